/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon/routes_metrics.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "common/phase.h"
#include "portlayer/events.h"
#include "portlayer/metrics.h"
#include "mechanism/linux.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>

#define MAX_CODES 12

/* One route (or the unmatched requests): its latency histogram and its answers by status. */
typedef struct route_stats {
	const pl_route_t *route; /* NULL: no route matched */
	pl_histogram_t latency;
	struct {
		unsigned status;
		uint64_t n;
	} codes[MAX_CODES];
	unsigned ncodes;
	uint64_t other_codes; /* past MAX_CODES distinct statuses */
} route_stats_t;

struct pl_api_metrics {
	route_stats_t *routes;
	size_t n, cap;
};

static route_stats_t *stats_for(struct pl_api_metrics *m, const pl_route_t *route)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->routes[i].route == route)
			return &m->routes[i];
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 32;
		m->routes = pl_xrealloc(m->routes, m->cap * sizeof(*m->routes));
	}
	route_stats_t *s = &m->routes[m->n++];
	*s = (route_stats_t){.route = route};
	return s;
}

static void observe(const pl_route_t *route, const char *method, unsigned status,
		    int64_t elapsed_ns, void *data)
{
	pl_app_t *app = data;
	route_stats_t *s = stats_for(app->api_metrics, route);
	pl_histogram_observe(&s->latency, (double)elapsed_ns / 1e9);
	for (unsigned i = 0; i < s->ncodes; i++)
		if (s->codes[i].status == status) {
			s->codes[i].n++;
			return;
		}
	if (s->ncodes == MAX_CODES) {
		s->other_codes++;
		return;
	}
	s->codes[s->ncodes].status = status;
	s->codes[s->ncodes++].n = 1;
}

void pl_metrics_routes_init(pl_app_t *app)
{
	app->api_metrics = pl_xcalloc(1, sizeof(*app->api_metrics));
	pl_http_set_observer(app->http, observe, app);
}

void pl_metrics_routes_free(pl_app_t *app)
{
	if (!app->api_metrics)
		return;
	free(app->api_metrics->routes);
	free(app->api_metrics);
	app->api_metrics = NULL;
}

/* --- the text format --- */

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

static void route_labels(FILE *f, const route_stats_t *s)
{
	fputs("method=\"", f);
	label(f, s->route ? s->route->method : "");
	fputs("\",route=\"", f);
	label(f, s->route ? s->route->pattern : "unmatched");
	fputc('"', f);
}

/* labels: the series' labels without braces ("" for none), joined with le. */
static void histogram(FILE *f, const char *name, const char *labels, const pl_histogram_t *h)
{
	const char *sep = *labels ? "," : "";
	uint64_t cum = 0;
	for (unsigned i = 0; i < PL_LATENCY_BUCKETS; i++) {
		cum += h->bucket[i];
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep,
			pl_latency_bounds[i], cum);
	}
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, h->count);
	if (*labels) {
		fprintf(f, "%s_sum{%s} %.9f\n", name, labels, h->sum);
		fprintf(f, "%s_count{%s} %" PRIu64 "\n", name, labels, h->count);
	} else {
		fprintf(f, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
	}
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static void render(FILE *f, pl_app_t *app)
{
	const pl_metrics_t *m = pl_portlayer_metrics(app->pl);
	pl_metrics_snapshot_t s = pl_metrics_snapshot(app->pl);

	head(f, "portlayer_build_info", "gauge", "Version of portlayerd and of the API it serves.");
	fprintf(f,
		"portlayer_build_info{version=\"%s\",api_version=\"%s\",min_api_version=\"%s\"} "
		"1\n",
		PL_VERSION, PL_API_VERSION, PL_API_MIN_VERSION);

	head(f, "portlayer_containers", "gauge", "Containers by state.");
	const struct {
		const char *state;
		unsigned n;
	} states[] = {
	    {"created", s.created},   {"starting", s.starting}, {"running", s.running},
	    {"paused", s.paused},     {"stopping", s.stopping}, {"stopped", s.stopped},
	    {"removing", s.removing},
	};
	for (size_t i = 0; i < PL_ARRAY_SIZE(states); i++)
		fprintf(f, "portlayer_containers{state=\"%s\"} %u\n", states[i].state, states[i].n);

	head(f, "portlayer_domains_running", "gauge",
	     "Running isolation domains by mechanism (vm: QEMU microVMs).");
	fprintf(f, "portlayer_domains_running{mechanism=\"linux\"} %u\n", s.linux_running);
	fprintf(f, "portlayer_domains_running{mechanism=\"vm\"} %u\n", s.vm_running);
	pl_linux_prepared_counts_t pc = pl_linux_prepared_counts();
	head(f, "portlayer_prepared_domains", "gauge",
	     "Linux domains made ahead: waiting for a start (ready) or being made (making).");
	fprintf(f, "portlayer_prepared_domains{state=\"ready\"} %d\n", pc.ready);
	fprintf(f, "portlayer_prepared_domains{state=\"making\"} %d\n", pc.making);
	head(f, "portlayer_prepared_domains_target", "gauge",
	     "The pool's size (--prepared-domains; 0: off).");
	fprintf(f, "portlayer_prepared_domains_target %d\n", pc.size);
	head(f, "portlayer_tethers_connected", "gauge",
	     "Domains whose tether is connected to the daemon.");
	fprintf(f, "portlayer_tethers_connected %u\n", s.tethers);

	head(f, "portlayer_container_starts_total", "counter",
	     "Starts whose process ran, since the daemon started.");
	fprintf(f, "portlayer_container_starts_total %" PRIu64 "\n", m->starts);
	head(f, "portlayer_container_start_failures_total", "counter",
	     "Starts that failed, since the daemon started.");
	fprintf(f, "portlayer_container_start_failures_total %" PRIu64 "\n", m->start_failures);
	head(f, "portlayer_container_exits_total", "counter",
	     "Domains that ended (stopped, exited or killed), since the daemon started.");
	fprintf(f, "portlayer_container_exits_total %" PRIu64 "\n", m->exits);
	head(f, "portlayer_container_oom_kills_total", "counter",
	     "Runs that lost a process to the OOM killer, since the daemon started.");
	fprintf(f, "portlayer_container_oom_kills_total %" PRIu64 "\n", m->oom_kills);
	head(f, "portlayer_container_start_duration_seconds", "histogram",
	     "Time from a start request until the container's process ran (or the start "
	     "failed).");
	histogram(f, "portlayer_container_start_duration_seconds", "", &m->start_latency);

	head(f, "portlayer_api_requests_total", "counter",
	     "API requests answered, by method, route pattern and status.");
	struct pl_api_metrics *am = app->api_metrics;
	for (size_t i = 0; i < am->n; i++) {
		route_stats_t *rs = &am->routes[i];
		for (unsigned k = 0; k < rs->ncodes; k++) {
			fputs("portlayer_api_requests_total{", f);
			route_labels(f, rs);
			fprintf(f, ",code=\"%u\"} %" PRIu64 "\n", rs->codes[k].status,
				rs->codes[k].n);
		}
		if (rs->other_codes) {
			fputs("portlayer_api_requests_total{", f);
			route_labels(f, rs);
			fprintf(f, ",code=\"other\"} %" PRIu64 "\n", rs->other_codes);
		}
	}
	head(f, "portlayer_api_request_duration_seconds", "histogram",
	     "Time from a request's head until its answer's head was queued, by route (for "
	     "waits and followed streams: until the answer began).");
	for (size_t i = 0; i < am->n; i++) {
		_cleanup_free_ char *labels = NULL;
		size_t len = 0;
		FILE *lf = open_memstream(&labels, &len);
		route_labels(lf, &am->routes[i]);
		fclose(lf);
		histogram(f, "portlayer_api_request_duration_seconds", labels,
			  &am->routes[i].latency);
	}

	head(f, "portlayer_event_journal_bytes", "gauge",
	     "Size of the event journal (events.jsonl and its rotated predecessor).");
	fprintf(f, "portlayer_event_journal_bytes %" PRIu64 "\n", s.journal_bytes);
	head(f, "portlayer_event_sequence", "counter", "Sequence number of the last event.");
	fprintf(f, "portlayer_event_sequence %" PRIu64 "\n",
		pl_events_last_seq(pl_portlayer_events(app->pl)));

	head(f, "portlayer_open_fds", "gauge", "File descriptors portlayerd has open.");
	fprintf(f, "portlayer_open_fds %ld\n", open_fds());
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		head(f, "portlayer_max_fds", "gauge", "portlayerd's file descriptor limit.");
		fprintf(f, "portlayer_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	pl_phase_render(f);
}

static void h_metrics(pl_req_t *r, void *data)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		pl_error_t *e = NULL;
		pl_error_errno(&e, "render metrics");
		pl_reply_error(r, e);
		pl_error_free(e);
		return;
	}
	render(f, data);
	fclose(f);
	pl_reply_text(r, 200, text);
}

const pl_route_t pl_routes_metrics[] = {
    {"GET", "/metrics", h_metrics},
    {NULL, NULL, NULL},
};
