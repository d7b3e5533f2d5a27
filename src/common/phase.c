/* SPDX-License-Identifier: Apache-2.0 */
#include "common/phase.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define MAX_PHASES 128
#define MAX_PAGES  64

static struct {
	const char *name;
	int64_t ns;
	uint64_t n;
} phases[MAX_PHASES];
static size_t n_phases;

static struct {
	pid_t pid;
	pl_phase_page_t *page;
} pages[MAX_PAGES];

int64_t pl_phase_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void pl_phase_add(const char *name, int64_t ns)
{
	size_t i;
	for (i = 0; i < n_phases; i++)
		if (phases[i].name == name || strcmp(phases[i].name, name) == 0)
			break;
	if (i == n_phases) {
		if (n_phases == MAX_PHASES)
			return;
		phases[n_phases++].name = name;
	}
	phases[i].ns += ns > 0 ? ns : 0;
	phases[i].n++;
}

void pl_phase_step(const char *name, int64_t *t)
{
	int64_t now = pl_phase_now();
	pl_phase_add(name, now - *t);
	*t = now;
}

void pl_phase_render(FILE *f)
{
	fputs("# HELP portlayer_phase_seconds_total Time spent in each phase of container "
	      "create, start, exit and removal.\n# TYPE portlayer_phase_seconds_total counter\n",
	      f);
	for (size_t i = 0; i < n_phases; i++)
		fprintf(f, "portlayer_phase_seconds_total{phase=\"%s\"} %.9f\n", phases[i].name,
			(double)phases[i].ns / 1e9);
	fputs("# HELP portlayer_phase_total How many times each phase ran.\n"
	      "# TYPE portlayer_phase_total counter\n",
	      f);
	for (size_t i = 0; i < n_phases; i++)
		fprintf(f, "portlayer_phase_total{phase=\"%s\"} %llu\n", phases[i].name,
			(unsigned long long)phases[i].n);
}

/* A name read from a page, as a string that lives as long as the sums (pl_phase_add keeps
 * the pointer): the known one, or a copy, one per distinct name and never more than the
 * sums hold. */
static const char *intern(const char *name)
{
	for (size_t i = 0; i < n_phases; i++)
		if (strcmp(phases[i].name, name) == 0)
			return phases[i].name;
	char *copy = n_phases < MAX_PHASES ? strdup(name) : NULL;
	return copy ? copy : "dom.other";
}

pl_phase_page_t *pl_phase_page_new(void)
{
	void *p = mmap(NULL, sizeof(pl_phase_page_t), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	pl_phase_page_t *pg = p;
	pg->t0 = pl_phase_now();
	return pg;
}

void pl_phase_page_mark(pl_phase_page_t *p, const char *name)
{
	if (p && p->n >= 0 && p->n < PL_PHASE_PAGE_MARKS) {
		snprintf(p->marks[p->n].name, sizeof(p->marks[p->n].name), "%s", name);
		p->marks[p->n].t = pl_phase_now();
		p->n++;
	}
}

void pl_phase_page_free(pl_phase_page_t *p)
{
	if (p)
		munmap(p, sizeof(*p));
}

void pl_phase_page_attach(pid_t pid, pl_phase_page_t *p)
{
	if (!p)
		return;
	size_t free_slot = MAX_PAGES;
	for (size_t i = 0; i < MAX_PAGES && free_slot == MAX_PAGES; i++)
		if (!pages[i].page)
			free_slot = i;
	if (free_slot == MAX_PAGES) { /* never collected (daemon bug): recycle the first */
		pl_phase_page_free(pages[0].page);
		free_slot = 0;
	}
	pages[free_slot].pid = pid;
	pages[free_slot].page = p;
}

void pl_phase_page_collect(pid_t pid)
{
	for (size_t i = 0; i < MAX_PAGES; i++) {
		if (!pages[i].page || pages[i].pid != pid)
			continue;
		pl_phase_page_t *p = pages[i].page;
		int64_t prev = p->t0;
		for (int k = 0; k < p->n && k < PL_PHASE_PAGE_MARKS; k++) {
			p->marks[k].name[sizeof(p->marks[k].name) - 1] = '\0';
			pl_phase_add(intern(p->marks[k].name), p->marks[k].t - prev);
			prev = p->marks[k].t;
		}
		/* tether's exec and start-up, up to its HELLO (the caller's moment) */
		if (p->n > 0)
			pl_phase_add("tether.exec_to_hello", pl_phase_now() - prev);
		pl_phase_page_free(p);
		pages[i].page = NULL;
		return;
	}
}

pl_phase_page_t *pl_phase_child_page;

void pl_phase_child_mark(const char *name)
{
	pl_phase_page_mark(pl_phase_child_page, name);
}
