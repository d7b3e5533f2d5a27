/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/docker.h"
#include "docker/build/build.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

void dk_reply_pl_error(dk_job_t *j, const pl_error_t *e)
{
	if (e->kind == PL_ERR_NOTFOUND && !strncmp(e->msg, "no such route: ", 15)) {
		/* a primitive the port layer does not have yet (see TEAM.md, issue 17) */
		dk_job_reply_message(j, 501, "not supported by this port layer yet (%s)",
				     e->msg + 15);
		return;
	}
	unsigned status = (unsigned)pl_error_http_status(e->kind);
	if (status == 408)
		status = 500;
	if (status == 501)
		status = 400;
	dk_job_reply_json(j, status, json_pack("{s:s}", "message", e->msg));
}

void dk_reply_list_error(dk_job_t *j, const pl_error_t *e)
{
	if (e->kind == PL_ERR_INVALID)
		dk_job_reply_message(j, 400, "%s", e->msg);
	else
		dk_reply_pl_error(j, e);
}

void dk_reply_missing(dk_job_t *j, const pl_error_t *e, const char *fmt, ...)
{
	if (e->kind != PL_ERR_NOTFOUND) {
		dk_reply_pl_error(j, e);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	dk_job_reply_vmessage(j, 404, fmt, ap);
	va_end(ap);
}

/* ---- system ---- */

static void add_docker_headers(pl_req_t *req)
{
	pl_req_add_header(req, "Api-Version", DK_API_VERSION);
	pl_req_add_header(req, "Docker-Experimental", "false");
	pl_req_add_header(req, "OSType", "linux");
	pl_req_add_header(req, "Cache-Control", "no-cache, no-store, must-revalidate");
	pl_req_add_header(req, "Pragma", "no-cache");
}

static void h_ping(pl_req_t *req, void *app)
{
	add_docker_headers(req);
	pl_reply_text(req, 200, "OK");
}

static void h_ping_head(pl_req_t *req, void *app)
{
	add_docker_headers(req);
	pl_reply_empty(req, 200);
}

static void version_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_system_info_t *pi = pl_system_info(dk_job_client(j), &err);
	struct utsname u;
	uname(&u);
	json_t *v = json_pack(
	    "{s:{s:s},s:[{s:s,s:s,s:{s:s,s:s,s:s,s:s}}],s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
	    "Platform", "Name", "Port Layer", "Components", "Name", "Engine", "Version", PL_VERSION,
	    "Details", "ApiVersion", DK_API_VERSION, "MinAPIVersion", DK_MIN_API_VERSION,
	    "PortLayer", pi && pi->version ? pi->version : "unreachable", "Os", "linux", "Version",
	    PL_VERSION, "ApiVersion", DK_API_VERSION, "MinAPIVersion", DK_MIN_API_VERSION,
	    "GitCommit", "pl-dockerd", "GoVersion", "none", "Os", "linux", "Arch", "amd64",
	    "KernelVersion", u.release, "BuildTime", "");
	pl_system_info_free(pi);
	dk_job_reply_json(j, 200, v);
}

static void info_job(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_system_info_t *pi = pl_system_info(c, &err);
	if (!pi) {
		dk_reply_pl_error(j, err);
		return;
	}
	pl_image_info_t **imgs = NULL;
	size_t nimg = 0;
	pl_image_list(c, NULL, &imgs, &nimg, NULL);
	pl_image_infos_free(imgs, nimg);
	struct utsname u;
	uname(&u);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	json_t *runtimes = json_pack("{s:{s:s}}", "runc", "path", "portlayer-linux");
	if (pi->vm_available) {
		json_object_set_new(runtimes, "kata", json_pack("{s:s}", "path", "portlayer-vm"));
		json_object_set_new(runtimes, "portlayer-vm",
				    json_pack("{s:s}", "path", "portlayer-vm"));
	}
	json_t *v = json_pack(
	    "{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:[],s:{s:[s],s:[s],s:[s]},s:b,s:b,s:b,s:b,s:b,s:b,"
	    "s:b,s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:s,s:s,s:s,s:o,"
	    "s:s,s:b,s:s,s:s,s:s,s:[s],s:{s:[],s:{},s:[]},s:n,s:b,s:s}",
	    "ID", pi->host ? pi->host : "", "Containers", pi->containers, "ContainersRunning",
	    pi->running, "ContainersPaused", 0, "ContainersStopped", pi->stopped + pi->created,
	    "Images", (int)nimg, "Driver", "overlay2", "DriverStatus", "Plugins", "Volume", "local",
	    "Network", "bridge", "Log", "json-file", "MemoryLimit", 1, "SwapLimit", 1,
	    "CpuCfsPeriod", 1, "CpuCfsQuota", 1, "CPUShares", 1, "CPUSet", 1, "PidsLimit", 1,
	    "IPv4Forwarding", 1, "BridgeNfIptables", 0, "BridgeNfIp6tables", 0, "Debug", 0,
	    "OomKillDisable", 0, "NFd", 0, "NGoroutines", 0, "SystemTime", "", "LoggingDriver",
	    "json-file", "CgroupDriver", "cgroupfs", "CgroupVersion",
	    pi->cgroup_layout && !strcmp(pi->cgroup_layout, "v2") ? "2" : "1", "KernelVersion",
	    u.release, "OperatingSystem", "Port Layer", "NCPU", (int)sysconf(_SC_NPROCESSORS_ONLN),
	    "MemTotal", (json_int_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE), "OSType",
	    "linux", "Architecture", u.machine, "Name", host, "Runtimes", runtimes,
	    "DefaultRuntime", "runc", "LiveRestoreEnabled", 1, "ServerVersion", PL_VERSION,
	    "DockerRootDir", "/var/lib/portlayer", "IndexServerAddress",
	    "https://index.docker.io/v1/", "SecurityOptions", "name=seccomp,profile=builtin",
	    "RegistryConfig", "InsecureRegistryCIDRs", "IndexConfigs", "Mirrors", "Warnings",
	    "ExperimentalBuild", 0, "Isolation", "");
	json_object_set_new(v, "Swarm",
			    json_pack("{s:s,s:s,s:s,s:b}", "NodeID", "", "NodeAddr", "",
				      "LocalNodeState", "inactive", "ControlAvailable", 0));
	pl_system_info_free(pi);
	dk_job_reply_json(j, 200, v);
}

/* ---- images ---- */

static json_t *image_summary(const pl_image_info_t *im)
{
	json_t *tags = json_array();
	for (char **t = im->tags; t && *t; t++)
		json_array_append_new(tags, json_string(*t));
	json_t *digests = json_array();
	for (char **t = im->repo_digests; t && *t; t++)
		json_array_append_new(digests, json_string(*t));
	return json_pack("{s:s,s:s,s:o,s:o,s:I,s:I,s:I,s:i,s:{},s:i}", "Id", im->id ? im->id : "",
			 "ParentId", "", "RepoTags", tags, "RepoDigests", digests, "Created",
			 (json_int_t)dk_unix_time(im->created), "Size", (json_int_t)im->size,
			 "SharedSize", (json_int_t)-1, "VirtualSize", 0, "Labels", "Containers",
			 -1);
}

static void images_list_job(dk_job_t *j)
{
	pl_image_info_t **imgs = NULL;
	size_t n = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	/* Docker's filters (reference, label, dangling) are the port layer's */
	if (pl_image_list(dk_job_client(j), dk_job_query(j, "filters"), &imgs, &n, &err) < 0) {
		dk_reply_list_error(j, err);
		return;
	}
	/* with a reference filter Docker shows only the names that match */
	const char *ftext = dk_job_query(j, "filters");
	_cleanup_json_ json_t *filters = ftext && *ftext ? json_loads(ftext, 0, NULL) : NULL;
	_cleanup_json_ json_t *refs = json_array();
	const json_t *rf = json_object_get(filters, "reference");
	const char *rk;
	json_t *rv;
	if (json_is_array(rf))
		json_array_extend(refs, (json_t *)rf);
	else
		json_object_foreach((json_t *)rf, rk, rv)
		    json_array_append_new(refs, json_string(rk));
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *sum = image_summary(imgs[i]);
		if (json_array_size(refs)) {
			json_t *tags = json_array();
			for (char **t = imgs[i]->tags; t && *t; t++) {
				_cleanup_free_ char *name = pl_xstrdup(*t);
				char *colon = strrchr(name, ':');
				if (colon && !strchr(colon, '/'))
					*colon = '\0';
				size_t k;
				json_t *w;
				json_array_foreach(refs, k, w)
				{
					const char *pat = json_string_value(w) ?: "";
					if (!fnmatch(pat, *t, 0) || !fnmatch(pat, name, 0)) {
						json_array_append_new(tags, json_string(*t));
						break;
					}
				}
			}
			json_object_set_new(sum, "RepoTags", tags);
		}
		json_array_append_new(out, sum);
	}
	pl_image_infos_free(imgs, n);
	dk_job_reply_json(j, 200, out);
}

static void image_inspect_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t *im = pl_image_inspect(dk_job_client(j), dk_job_param(j), &err);
	if (!im) {
		dk_reply_missing(j, err, "No such image: %s", dk_job_param(j));
		return;
	}
	json_t *s = image_summary(im);
	const json_t *cfg = im->config;
	json_t *config = json_object_get(cfg, "config")
			     ? json_deep_copy(json_object_get(cfg, "config"))
			     : json_object();
	const char *k[] = {"Hostname", "Domainname", "User", "WorkingDir"};
	for (size_t i = 0; i < PL_ARRAY_SIZE(k); i++)
		if (!json_object_get(config, k[i]))
			json_object_set_new(config, k[i], json_string(""));
	const json_t *rootfs = json_object_get(cfg, "rootfs");
	json_t *out = json_pack(
	    "{s:O,s:O,s:O,s:s,s:s,s:s,s:s,s:s,s:o,s:O,s:s,s:s,s:I,s:I,s:{s:s,s:{}},s:{s:s,s:o},"
	    "s:{s:s}}",
	    "Id", json_object_get(s, "Id"), "RepoTags", json_object_get(s, "RepoTags"),
	    "RepoDigests", json_object_get(s, "RepoDigests"), "Parent", "", "Comment", "",
	    "Created", im->created ? im->created : "", "DockerVersion", "", "Author", "", "Config",
	    config, "ContainerConfig", config, "Architecture",
	    json_string_value(json_object_get(cfg, "architecture")) ?: "amd64", "Os",
	    json_string_value(json_object_get(cfg, "os")) ?: "linux", "Size", (json_int_t)im->size,
	    "VirtualSize", (json_int_t)im->size, "GraphDriver", "Name", "overlay2", "Data",
	    "RootFS", "Type", "layers", "Layers",
	    json_object_get(rootfs, "diff_ids") ? json_incref(json_object_get(rootfs, "diff_ids"))
						: json_array(),
	    "Metadata", "LastTagTime", "0001-01-01T00:00:00Z");
	json_object_set_new(out, "Container", json_string(""));
	json_decref(s);
	pl_image_info_free(im);
	dk_job_reply_json(j, 200, out);
}

static void image_history_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t *im = pl_image_inspect(dk_job_client(j), dk_job_param(j), &err);
	if (!im) {
		dk_reply_missing(j, err, "No such image: %s", dk_job_param(j));
		return;
	}
	/* newest first; the top entry carries the image's id and tags */
	const json_t *hist = json_object_get(im->config, "history");
	json_t *out = json_array();
	for (size_t i = json_array_size(hist); i-- > 0;) {
		const json_t *h = json_array_get(hist, i);
		const char *by = json_string_value(json_object_get(h, "created_by"));
		const char *comment = json_string_value(json_object_get(h, "comment"));
		bool top = json_array_size(out) == 0;
		json_t *tags = json_array();
		for (char **t = im->tags; top && t && *t; t++)
			json_array_append_new(tags, json_string(*t));
		json_array_append_new(
		    out,
		    json_pack(
			"{s:s,s:I,s:s,s:o,s:I,s:s}", "Id", top ? im->id : "<missing>", "Created",
			(json_int_t)dk_unix_time(json_string_value(json_object_get(h, "created"))),
			"CreatedBy", by ? by : "", "Tags", tags, "Size",
			(json_int_t)(top ? im->size : 0), "Comment", comment ? comment : ""));
	}
	pl_image_info_free(im);
	dk_job_reply_json(j, 200, out);
}

/* As Docker: registries on localhost and 127.0.0.0/8 are insecure by default. */
static bool insecure_registry(const char *ref)
{
	const char *slash = strchr(ref, '/');
	if (!slash)
		return false;
	size_t n = (size_t)(slash - ref);
	if (!memchr(ref, '.', n) && !memchr(ref, ':', n) && strncmp(ref, "localhost", n))
		return false; /* "library/busybox": no registry host */
	return !strncmp(ref, "localhost", 9) || !strncmp(ref, "127.", 4);
}

static int pull_out(const char *data, size_t len, void *userdata)
{
	return dk_job_write(userdata, data, len);
}

static void image_create_job(dk_job_t *j)
{
	const char *from = dk_job_query(j, "fromImage");
	const char *tag = dk_job_query(j, "tag");
	if ((!from || !*from) && dk_job_query(j, "fromSrc")) {
		dk_image_import(j);
		return;
	}
	if (!from || !*from) {
		dk_job_reply_message(j, 400,
				     "fromImage is required (import from a tarball is not "
				     "supported: use docker load)");
		return;
	}
	_cleanup_free_ char *ref = NULL;
	if (tag && *tag)
		ref = pl_xasprintf("%s%s%s", from, !strncmp(tag, "sha256:", 7) ? "@" : ":", tag);
	else
		ref = pl_xstrdup(from);
	dk_job_stream(j, 200, "application/json");
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_json_ json_t *auth = dk_registry_auth(j);
	if (pl_image_pull_auth(dk_job_client(j), ref, insecure_registry(ref),
			       json_string_value(json_object_get(auth, "username")),
			       json_string_value(json_object_get(auth, "password")), pull_out, j,
			       &err) < 0) {
		/* the head is out: Docker reports a failed pull as an error line */
		_cleanup_json_ json_t *line = json_pack("{s:s,s:{s:s}}", "error", err->msg,
							"errorDetail", "message", err->msg);
		_cleanup_free_ char *s = pl_json_dump(line);
		dk_job_write(j, s, strlen(s));
		dk_job_write(j, "\n", 1);
	}
}

static void image_load_job(dk_job_t *j)
{
	int fd = dk_job_body_fd(j);
	if (fd < 0) {
		dk_job_reply_message(j, 400, "a docker-archive tar body is required");
		return;
	}
	_cleanup_json_ json_t *images = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_image_import(dk_job_client(j), fd, -1, &images, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_stream(j, 200, "application/json");
	size_t i;
	const json_t *im;
	json_array_foreach(images, i, im)
	{
		const json_t *tags = json_object_get(im, "tags");
		_cleanup_free_ char *msg = NULL;
		if (json_array_size(tags)) {
			for (size_t t = 0; t < json_array_size(tags); t++) {
				_cleanup_free_ char *m =
				    pl_xasprintf("Loaded image: %s\n",
						 json_string_value(json_array_get(tags, t)));
				_cleanup_json_ json_t *line = json_pack("{s:s}", "stream", m);
				_cleanup_free_ char *s = pl_json_dump(line);
				dk_job_write(j, s, strlen(s));
				dk_job_write(j, "\n", 1);
			}
		} else {
			msg = pl_xasprintf("Loaded image ID: %s\n",
					   json_string_value(json_object_get(im, "id")));
			_cleanup_json_ json_t *line = json_pack("{s:s}", "stream", msg);
			_cleanup_free_ char *s = pl_json_dump(line);
			dk_job_write(j, s, strlen(s));
			dk_job_write(j, "\n", 1);
		}
	}
}

static void image_tag_job(dk_job_t *j)
{
	const char *repo = dk_job_query(j, "repo");
	const char *tag = dk_job_query(j, "tag");
	if (!repo || !*repo) {
		dk_job_reply_message(j, 400, "repository name must have at least one component");
		return;
	}
	_cleanup_free_ char *target = pl_xasprintf("%s:%s", repo, tag && *tag ? tag : "latest");
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_image_tag(dk_job_client(j), dk_job_param(j), target, &err) < 0) {
		dk_reply_missing(j, err, "No such image: %s", dk_job_param(j));
		return;
	}
	dk_job_reply_empty(j, 201);
}

static void image_delete_job(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t *before = pl_image_inspect(c, dk_job_param(j), &err);
	if (!before) {
		dk_reply_missing(j, err, "No such image: %s", dk_job_param(j));
		return;
	}
	_cleanup_json_ json_t *removed = NULL;
	if (pl_image_remove(c, dk_job_param(j), dk_job_query_bool(j, "force", false), &removed,
			    &err) < 0) {
		pl_image_info_free(before);
		dk_reply_pl_error(j, err);
		return;
	}
	json_t *out = json_array();
	pl_image_info_t *after = pl_image_inspect(c, before->id, NULL);
	for (char **t = before->tags; t && *t; t++) {
		bool still = false;
		for (char **a = after ? after->tags : NULL; a && *a; a++)
			if (!strcmp(*a, *t))
				still = true;
		if (!still)
			json_array_append_new(out, json_pack("{s:s}", "Untagged", *t));
	}
	if (!after)
		json_array_append_new(out, json_pack("{s:s}", "Deleted", before->id));
	pl_image_info_free(after);
	pl_image_info_free(before);
	dk_job_reply_json(j, 200, out);
}

/* ---- volumes, networks ---- */

static json_t *volume_json(const pl_volume_info_t *v)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n}", "Name", v->name ? v->name : "", "Driver",
			 "local", "Mountpoint", v->mountpoint ? v->mountpoint : "", "CreatedAt",
			 v->created ? v->created : "", "Labels",
			 v->labels ? json_incref(v->labels) : json_object(), "Scope", "local",
			 "Options");
}

static void volumes_list_job(dk_job_t *j)
{
	pl_volume_info_t **v = NULL;
	size_t n = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_volume_list_filtered(dk_job_client(j), dk_job_query(j, "filters"), &v, &n, &err) <
	    0) {
		dk_reply_list_error(j, err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, volume_json(v[i]));
	pl_volume_infos_free(v, n);
	dk_job_reply_json(j, 200, json_pack("{s:o,s:[]}", "Volumes", arr, "Warnings"));
}

static void volume_create_job(dk_job_t *j)
{
	json_t *body = dk_job_body(j);
	const char *name = json_string_value(json_object_get(body, "Name"));
	const char *lv[64];
	size_t n = 0;
	char *owned[64];
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(body, "Labels"), k, v)
	{
		if (n + 1 >= PL_ARRAY_SIZE(lv))
			break;
		owned[n] = pl_xasprintf("%s=%s", k, json_string_value(v) ?: "");
		lv[n] = owned[n];
		n++;
	}
	lv[n] = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	pl_volume_info_t *vol = pl_volume_create(dk_job_client(j), name, n ? lv : NULL, &err);
	if (!vol && err->kind == PL_ERR_INVALID && strstr(err->msg, "labels")) {
		pl_error_free(err);
		err = NULL;
		vol = pl_volume_create(dk_job_client(j), name, NULL, &err);
	}
	for (size_t i = 0; i < n; i++)
		free(owned[i]);
	if (!vol) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_reply_json(j, 201, volume_json(vol));
	pl_volume_info_free(vol);
}

static void volume_inspect_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_volume_info_t *v = pl_volume_inspect(dk_job_client(j), dk_job_param(j), &err);
	if (!v) {
		dk_reply_missing(j, err, "get %s: no such volume", dk_job_param(j));
		return;
	}
	dk_job_reply_json(j, 200, volume_json(v));
	pl_volume_info_free(v);
}

static void volume_delete_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_volume_remove(dk_job_client(j), dk_job_param(j),
			     dk_job_query_bool(j, "force", false), &err) < 0) {
		dk_reply_missing(j, err, "get %s: no such volume", dk_job_param(j));
		return;
	}
	dk_job_reply_empty(j, 204);
}

static json_t *network_json(const pl_network_info_t *n)
{
	json_t *cfg = json_array();
	if (n->subnet)
		json_array_append_new(cfg, json_pack("{s:s,s:s}", "Subnet", n->subnet, "Gateway",
						     n->gateway ? n->gateway : ""));
	const json_t *labels = json_object_get(n->raw, "labels");
	const json_t *opts = json_object_get(n->raw, "options"); /* as given to create (-o) */
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s,s:n,s:o},s:b,s:b,s:b,s:{},s:o,s:o}",
			 "Name", n->name ? n->name : "", "Id", n->id ? n->id : n->name, "Created",
			 n->created ? n->created : "", "Scope", "local", "Driver",
			 n->driver ? n->driver : "bridge", "EnableIPv6", 0, "IPAM", "Driver",
			 "default", "Options", "Config", cfg, "Internal", n->internal, "Attachable",
			 0, "Ingress", 0, "Containers", "Options",
			 json_is_object(opts) ? json_incref((json_t *)opts) : json_object(),
			 "Labels", labels ? json_incref((json_t *)labels) : json_object());
}

static void networks_list_job(dk_job_t *j)
{
	pl_network_info_t **v = NULL;
	size_t n = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_network_list_filtered(dk_job_client(j), dk_job_query(j, "filters"), &v, &n, &err) <
	    0) {
		dk_reply_list_error(j, err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, network_json(v[i]));
	pl_network_infos_free(v, n);
	dk_job_reply_json(j, 200, arr);
}

static void network_inspect_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_network_info_t *n = pl_network_inspect(dk_job_client(j), dk_job_param(j), &err);
	if (!n) {
		dk_reply_missing(j, err, "network %s not found", dk_job_param(j));
		return;
	}
	dk_job_reply_json(j, 200, network_json(n));
	pl_network_info_free(n);
}

static void network_create_job(dk_job_t *j)
{
	json_t *body = dk_job_body(j);
	const char *name = json_string_value(json_object_get(body, "Name"));
	if (!name || !*name) {
		dk_job_reply_message(j, 400, "network name is required");
		return;
	}
	if (json_object_size(json_object_get(body, "Options"))) /* -o: netopts.c */
		return dk_network_create_with_options(j);
	const json_t *ipam0 =
	    json_array_get(json_object_get(json_object_get(body, "IPAM"), "Config"), 0);
	const char *driver = json_string_value(json_object_get(body, "Driver"));
	pl_network_spec_t s = {
	    .name = name,
	    .driver = driver && !strcmp(driver, "macvlan") ? "external" : NULL,
	    .subnet = json_string_value(json_object_get(ipam0, "Subnet")),
	    .gateway = json_string_value(json_object_get(ipam0, "Gateway")),
	    .ip_range = json_string_value(json_object_get(ipam0, "IPRange")),
	    .internal = json_is_true(json_object_get(body, "Internal")),
	};
	const char *lv[65];
	char *owned[64];
	size_t nl = 0;
	const char *lk;
	json_t *lvv;
	json_object_foreach(json_object_get(body, "Labels"), lk, lvv)
	{
		if (nl >= 64)
			break;
		owned[nl] = pl_xasprintf("%s=%s", lk, json_string_value(lvv) ?: "");
		lv[nl] = owned[nl];
		nl++;
	}
	lv[nl] = NULL;
	s.labels = nl ? lv : NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	pl_network_info_t *n = pl_network_create(dk_job_client(j), &s, &err);
	for (size_t i = 0; i < nl; i++)
		free(owned[i]);
	if (!n) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_reply_json(j, 201,
			  json_pack("{s:s,s:s}", "Id", n->id ? n->id : name, "Warning", ""));
	pl_network_info_free(n);
}

static void network_delete_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_network_remove(dk_job_client(j), dk_job_param(j), &err) < 0) {
		dk_reply_missing(j, err, "network %s not found", dk_job_param(j));
		return;
	}
	dk_job_reply_empty(j, 204);
}

static bool no_such_route(const pl_error_t *e)
{
	return e && e->kind == PL_ERR_NOTFOUND && !strncmp(e->msg, "no such route: ", 15);
}

static bool on_network(pl_client_t *c, const char *ctr, const char *network)
{
	pl_container_info_t *ci = pl_container_inspect(c, ctr, NULL);
	bool joined = false;
	size_t i;
	const json_t *n;
	json_array_foreach(
	    json_object_get(json_object_get(ci ? ci->raw : NULL, "config"), "networks"), i, n)
	{
		const char *scope = json_string_value(json_object_get(n, "scope"));
		if (scope && !strcmp(scope, network))
			joined = true;
	}
	pl_container_info_free(ci);
	return joined;
}

static void network_connect_job(dk_job_t *j)
{
	json_t *body = dk_job_body(j);
	const char *ctr = json_string_value(json_object_get(body, "Container"));
	if (!ctr) {
		dk_job_reply_message(j, 400, "Container is required");
		return;
	}
	const json_t *ep = json_object_get(body, "EndpointConfig");
	const char *ip =
	    json_string_value(json_object_get(json_object_get(ep, "IPAMConfig"), "IPv4Address"));
	const json_t *al = json_object_get(ep, "Aliases");
	const char *aliases[17] = {NULL};
	for (size_t i = 0; i < json_array_size(al) && i < 16; i++)
		aliases[i] = json_string_value(json_array_get(al, i));
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_t *c = dk_job_client(j);
	if (on_network(c, ctr, dk_job_param(j))) {
		/* Docker's answer (compose no longer reconnects: it finds the short id among
		 * the endpoint's aliases) */
		dk_job_reply_message(j, 403, "endpoint with name %s already exists in network %s",
				     ctr, dk_job_param(j));
		return;
	}
	int r = pl_network_connect(c, dk_job_param(j), ctr, ip, aliases, &err);
	if (r < 0 && no_such_route(err)) {
		/* a port layer without live connect: through the handle (not running) */
		pl_error_free(err);
		err = NULL;
		r = pl_container_network_change(c, ctr, true, dk_job_param(j), ip, aliases, &err);
	}
	if (r < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_reply_empty(j, 200);
}

static void network_disconnect_job(dk_job_t *j)
{
	json_t *body = dk_job_body(j);
	const char *ctr = json_string_value(json_object_get(body, "Container"));
	if (!ctr) {
		dk_job_reply_message(j, 400, "Container is required");
		return;
	}
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_t *c = dk_job_client(j);
	int r = pl_network_disconnect(c, dk_job_param(j), ctr,
				      json_is_true(json_object_get(body, "Force")), &err);
	if (r < 0 && no_such_route(err)) {
		pl_error_free(err);
		err = NULL;
		r = pl_container_network_change(c, ctr, false, dk_job_param(j), NULL, NULL, &err);
	}
	if (r < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	dk_job_reply_empty(j, 200);
}

/* ---- events ---- */

typedef struct ev_ctx {
	dk_job_t *job;
	json_t *filters;
	pl_client_t *look; /* a second connection: the job's carries the event stream */
	json_t *seen;	   /* container id -> the image as typed, looked up once per stream */
	json_t *image_ids; /* {"image": [ids of the image filter's references]} */
} ev_ctx_t;

/* The image as the container's creator typed it (its annotation), looked up once per
 * container and stream; "" when the container is gone. */
static const char *ev_image_name(ev_ctx_t *x, const char *id)
{
	json_t *e = json_object_get(x->seen, id);
	if (e)
		return json_string_value(e);
	pl_container_info_t *ci = x->look ? pl_container_inspect(x->look, id, NULL) : NULL;
	const char *img = ci ? dk_annotation(ci, DK_ANN_IMAGE) : NULL;
	e = json_string(img ? img : "");
	pl_container_info_free(ci);
	json_object_set_new(x->seen, id, e);
	return json_string_value(e);
}

/* label=k or label=k=v (every one must hold) */
static bool labels_ok(const json_t *filters, const json_t *labels)
{
	const json_t *f = json_object_get(filters, "label");
	const char *k;
	json_t *v;
	size_t i;
	_cleanup_json_ json_t *want = json_array();
	if (json_is_array(f))
		json_array_extend(want, (json_t *)f);
	else
		json_object_foreach((json_t *)f, k, v) json_array_append_new(want, json_string(k));
	json_array_foreach(want, i, v)
	{
		const char *w = json_string_value(v);
		const char *eq = strchr(w, '=');
		_cleanup_free_ char *key = eq ? strndup(w, (size_t)(eq - w)) : pl_xstrdup(w);
		const char *have = json_string_value(json_object_get(labels, key));
		if (!have || (eq && strcmp(have, eq + 1)))
			return false;
	}
	return true;
}

static bool filter_ok(const json_t *filters, const char *key, const char *value, const char *alt)
{
	const json_t *f = json_object_get(filters, key);
	if (!f)
		return true;
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_array(f)) {
		json_array_foreach(f, i, v)
		{
			const char *s = json_string_value(v);
			if (s && ((value && !strcmp(s, value)) || (alt && !strcmp(s, alt))))
				return true;
		}
		return false;
	}
	json_object_foreach((json_t *)f, k, v) if ((value && !strcmp(k, value)) ||
						   (alt && !strcmp(k, alt))) return true;
	return false;
}

static int on_event(const pl_event_t *ev, void *userdata)
{
	ev_ctx_t *x = userdata;
	const char *name = json_string_value(json_object_get(ev->attributes, "name"));
	const char *action = ev->action ? ev->action : "";
	if (!strcmp(action, "remove")) /* Docker's name for it */
		action = "destroy";
	if (!filter_ok(x->filters, "type", ev->type, NULL) ||
	    !filter_ok(x->filters, "event", action, NULL) ||
	    !filter_ok(x->filters, "container", ev->id, name) ||
	    !filter_ok(x->filters, "scope", "local", NULL))
		return 0;
	const char *type = ev->type ? ev->type : "";
	bool is_ctr = !strcmp(type, "container");
	if (!filter_ok(x->filters, "volume", !strcmp(type, "volume") ? ev->id : NULL, NULL) ||
	    !filter_ok(x->filters, "network", !strcmp(type, "network") ? ev->id : NULL,
		       json_string_value(json_object_get(
			   ev->attributes, !strcmp(type, "network") ? "name" : "network"))))
		return 0;
	/* the port layer's container events carry the image id and the labels */
	const char *image_id = json_string_value(json_object_get(ev->attributes, "image"));
	const json_t *labels = json_object_get(ev->attributes, "labels");
	const char *image_name = is_ctr && ev->id && *ev->id ? ev_image_name(x, ev->id) : "";
	if (json_object_get(x->filters, "image")) {
		_cleanup_free_ char *bare = pl_xstrdup(image_name);
		char *colon = strrchr(bare, ':');
		if (colon && !strchr(colon, '/'))
			*colon = '\0';
		/* Docker matches the name as typed; a container gone since is matched by
		 * the id its event recorded */
		if (!is_ctr || (*image_name ? !filter_ok(x->filters, "image", image_name, bare)
					    : !filter_ok(x->image_ids, "image", image_id, NULL)))
			return 0;
	}
	if (json_object_get(x->filters, "label") && (!is_ctr || !labels_ok(x->filters, labels)))
		return 0;
	json_t *attrs = json_object();
	if (is_ctr) {
		const char *lk;
		json_t *lv;
		json_object_foreach((json_t *)labels, lk, lv) json_object_set(attrs, lk, lv);
		json_object_set_new(attrs, "image",
				    json_string(*image_name ? image_name : (image_id ?: "")));
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)ev->attributes, k, v)
	{
		if (is_ctr && !strcmp(k, "image"))
			continue; /* Docker's is the name, set above */
		if (!strcmp(type, "network") && !strcmp(k, "driver")) /* Docker's "type" */
			json_object_set_new(attrs, "type",
					    json_string(!strcmp(json_string_value(v) ?: "", "external")
							    ? "macvlan"
							    : json_string_value(v) ?: "bridge"));
		else if (json_is_string(v))
			json_object_set(attrs, k, v);
		else if (!strcmp(k, "exit_code") && json_is_integer(v)) {
			char code[24];
			snprintf(code, sizeof(code), "%lld", (long long)json_integer_value(v));
			json_object_set_new(attrs, "exitCode", json_string(code));
		}
	}

	json_t *out =
	    json_pack("{s:s,s:s,s:{s:s,s:o},s:s,s:I,s:I}", "Type", type, "Action", action, "Actor",
		      "ID", ev->id ? ev->id : "", "Attributes", attrs, "scope", "local", "time",
		      (json_int_t)(ev->time_ns / 1000000000), "timeNano", (json_int_t)ev->time_ns);
	if (!strcmp(type, "container")) {
		json_object_set_new(out, "status", json_string(action));
		json_object_set_new(out, "id", json_string(ev->id ? ev->id : ""));
	}
	_cleanup_free_ char *s = pl_json_dump(out);
	json_decref(out);
	if (dk_job_write(x->job, s, strlen(s)) < 0 || dk_job_write(x->job, "\n", 1) < 0)
		return -EPIPE;
	return 0;
}

static void events_job(dk_job_t *j)
{
	const char *ftext = dk_job_query(j, "filters");
	ev_ctx_t x = {.job = j,
		      .filters = ftext && *ftext ? json_loads(ftext, 0, NULL) : NULL,
		      .seen = json_object(),
		      .image_ids = json_pack("{s:[]}", "image"),
		      .look = pl_client_new(dk_server_portlayer(dk_server), NULL)};
	/* an image filter matches the image by id too: containers outlive their names */
	_cleanup_json_ json_t *want = json_array();
	const json_t *fi = json_object_get(x.filters, "image");
	const char *fk;
	json_t *fv;
	size_t fn;
	if (json_is_array(fi))
		json_array_extend(want, (json_t *)fi);
	else
		json_object_foreach((json_t *)fi, fk, fv)
		    json_array_append_new(want, json_string(fk));
	json_array_foreach(want, fn, fv)
	{
		pl_image_info_t *im =
		    pl_image_inspect(dk_job_client(j), json_string_value(fv) ?: "", NULL);
		if (im && im->id)
			json_array_append_new(json_object_get(x.image_ids, "image"),
					      json_string(im->id));
		pl_image_info_free(im);
	}
	const char *since = dk_job_query(j, "since");
	const char *until = dk_job_query(j, "until");
	char now[48];
	if (!since || !*since) { /* Docker streams from now on */
		pl_time_format(pl_now_ns(), now, sizeof(now));
		since = now;
	}
	dk_job_stream(j, 200, "application/json");
	pl_events_stream(dk_job_client(j), since, until && *until ? until : NULL, NULL, on_event,
			 &x, NULL);
	if (x.filters)
		json_decref(x.filters);
	json_decref(x.seen);
	json_decref(x.image_ids);
	pl_client_free(x.look);
}

/* ---- the table ---- */

dk_server_t *dk_server;

#define JOB(name, fn)                                                                              \
	static void name(pl_req_t *req, void *app)                                                 \
	{                                                                                          \
		dk_job_spawn(dk_server, req, fn);                                                  \
	}

JOB(h_version, version_job)
JOB(h_info, info_job)
JOB(h_images, images_list_job)
JOB(h_image_inspect, image_inspect_job)
JOB(h_image_create, image_create_job)
JOB(h_image_load, image_load_job)
JOB(h_image_tag, image_tag_job)
JOB(h_image_delete, image_delete_job)
JOB(h_c_create, dk_containers_create)
JOB(h_c_list, dk_containers_list)
JOB(h_c_inspect, dk_containers_inspect)
JOB(h_c_start, dk_containers_start)
JOB(h_c_stop, dk_containers_stop)
JOB(h_c_restart, dk_containers_restart)
JOB(h_c_kill, dk_containers_kill)
JOB(h_c_wait, dk_containers_wait)
JOB(h_c_remove, dk_containers_remove)
JOB(h_c_logs, dk_containers_logs)
JOB(h_c_attach, dk_containers_attach)
JOB(h_c_resize, dk_containers_resize)
JOB(h_c_pause, dk_containers_pause)
JOB(h_c_unpause, dk_containers_unpause)
JOB(h_c_rename, dk_containers_rename)
JOB(h_c_top, dk_containers_top)
JOB(h_c_stats, dk_containers_stats)
JOB(h_c_changes, dk_containers_changes)
JOB(h_c_export, dk_containers_export)
JOB(h_c_update, dk_containers_update)
JOB(h_c_prune, dk_containers_prune)
JOB(h_image_history, image_history_job)
JOB(h_exec_create, dk_exec_create)
JOB(h_exec_start, dk_exec_start)
JOB(h_exec_inspect, dk_exec_inspect)
JOB(h_exec_resize, dk_exec_resize)
JOB(h_volumes, volumes_list_job)
JOB(h_volume_create, volume_create_job)
JOB(h_volume_inspect, volume_inspect_job)
JOB(h_volume_delete, volume_delete_job)
JOB(h_networks, networks_list_job)
JOB(h_network_inspect, network_inspect_job)
JOB(h_network_create, network_create_job)
JOB(h_network_delete, network_delete_job)
JOB(h_network_connect, network_connect_job)
JOB(h_network_disconnect, network_disconnect_job)
JOB(h_events, events_job)
JOB(h_archive_get, dk_archive_get)
JOB(h_archive_head, dk_archive_head)
JOB(h_archive_put, dk_archive_put)
JOB(h_commit, dk_commit)
JOB(h_image_save, dk_image_save)
JOB(h_image_push, dk_image_push)
JOB(h_auth, dk_auth)
JOB(h_system_df, dk_system_df)
JOB(h_images_prune, dk_images_prune)
JOB(h_volumes_prune, dk_volumes_prune)
JOB(h_networks_prune, dk_networks_prune)
JOB(h_build_prune, dk_build_prune)

const pl_route_t dk_routes[] = {
    {"GET", "/_ping", h_ping},
    {"POST", "/build", dk_build_route, true},
    {"POST", "/build/prune", h_build_prune},
    {"HEAD", "/_ping", h_ping_head},
    {"GET", "/version", h_version},
    {"GET", "/info", h_info},
    {"GET", "/events", h_events},
    {"GET", "/images/json", h_images},
    {"GET", "/images/get", h_image_save},
    {"POST", "/images/prune", h_images_prune},
    {"GET", "/images/{ref*}/get", h_image_save},
    {"POST", "/images/{ref*}/push", h_image_push},
    {"POST", "/auth", h_auth},
    {"POST", "/commit", h_commit},
    {"GET", "/system/df", h_system_df},
    {"POST", "/volumes/prune", h_volumes_prune},
    {"POST", "/networks/prune", h_networks_prune},
    {"GET", "/containers/{id}/archive", h_archive_get},
    {"HEAD", "/containers/{id}/archive", h_archive_head},
    {"PUT", "/containers/{id}/archive", h_archive_put, true},
    {"POST", "/images/create", h_image_create, true},
    {"POST", "/images/load", h_image_load, true},
    {"GET", "/images/{ref*}/json", h_image_inspect},
    {"GET", "/images/{ref*}/history", h_image_history},
    {"POST", "/images/{ref*}/tag", h_image_tag},
    {"DELETE", "/images/{ref*}", h_image_delete},
    {"POST", "/containers/create", h_c_create},
    {"GET", "/containers/json", h_c_list},
    {"POST", "/containers/prune", h_c_prune},
    {"GET", "/containers/{id}/changes", h_c_changes},
    {"GET", "/containers/{id}/export", h_c_export},
    {"POST", "/containers/{id}/update", h_c_update},
    {"GET", "/containers/{id}/json", h_c_inspect},
    {"POST", "/containers/{id}/start", h_c_start},
    {"POST", "/containers/{id}/stop", h_c_stop},
    {"POST", "/containers/{id}/restart", h_c_restart},
    {"POST", "/containers/{id}/kill", h_c_kill},
    {"POST", "/containers/{id}/wait", h_c_wait},
    {"GET", "/containers/{id}/logs", h_c_logs},
    {"POST", "/containers/{id}/attach", h_c_attach},
    {"POST", "/containers/{id}/resize", h_c_resize},
    {"POST", "/containers/{id}/pause", h_c_pause},
    {"POST", "/containers/{id}/unpause", h_c_unpause},
    {"POST", "/containers/{id}/rename", h_c_rename},
    {"GET", "/containers/{id}/top", h_c_top},
    {"GET", "/containers/{id}/stats", h_c_stats},
    {"POST", "/containers/{id}/exec", h_exec_create},
    {"DELETE", "/containers/{id}", h_c_remove},
    {"POST", "/exec/{id}/start", h_exec_start},
    {"POST", "/exec/{id}/resize", h_exec_resize},
    {"GET", "/exec/{id}/json", h_exec_inspect},
    {"GET", "/volumes", h_volumes},
    {"POST", "/volumes/create", h_volume_create},
    {"GET", "/volumes/{name}", h_volume_inspect},
    {"DELETE", "/volumes/{name}", h_volume_delete},
    {"GET", "/networks", h_networks},
    {"POST", "/networks/create", h_network_create},
    {"POST", "/networks/{id}/connect", h_network_connect},
    {"POST", "/networks/{id}/disconnect", h_network_disconnect},
    {"GET", "/networks/{id}", h_network_inspect},
    {"DELETE", "/networks/{id}", h_network_delete},
    {NULL, NULL, NULL},
};
