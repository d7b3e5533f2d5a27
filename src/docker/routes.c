#include "docker/docker.h"
#include "docker/build/build.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
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
	if (pl_image_list(dk_job_client(j), NULL, &imgs, &n, &err) < 0) {
		dk_reply_pl_error(j, err);
		return;
	}
	const char *ftext = dk_job_query(j, "filters");
	_cleanup_json_ json_t *filters = ftext && *ftext ? json_loads(ftext, 0, NULL) : NULL;
	const json_t *ref = json_object_get(filters, "reference");
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		bool keep = !ref;
		const char *want;
		json_t *jv;
		json_object_foreach((json_t *)ref, want, jv)
		{
			for (char **t = imgs[i]->tags; t && *t; t++)
				if (!strcmp(*t, want) ||
				    (!strncmp(*t, want, strlen(want)) && (*t)[strlen(want)] == ':'))
					keep = true;
		}
		if (keep)
			json_array_append_new(out, image_summary(imgs[i]));
	}
	pl_image_infos_free(imgs, n);
	dk_job_reply_json(j, 200, out);
}

static void image_inspect_job(dk_job_t *j)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_image_info_t *im = pl_image_inspect(dk_job_client(j), dk_job_param(j), &err);
	if (!im) {
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "No such image: %s", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "No such image: %s", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
	if (pl_image_pull(dk_job_client(j), ref, insecure_registry(ref), pull_out, j, &err) < 0) {
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
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "No such image: %s", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "No such image: %s", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
	if (pl_volume_list(dk_job_client(j), &v, &n, &err) < 0) {
		dk_reply_pl_error(j, err);
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
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "get %s: no such volume", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "get %s: no such volume", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s,s:n,s:o},s:b,s:b,s:b,s:{},s:{},s:o}",
			 "Name", n->name ? n->name : "", "Id", n->id ? n->id : n->name, "Created",
			 n->created ? n->created : "", "Scope", "local", "Driver",
			 n->driver ? n->driver : "bridge", "EnableIPv6", 0, "IPAM", "Driver",
			 "default", "Options", "Config", cfg, "Internal", n->internal, "Attachable",
			 0, "Ingress", 0, "Containers", "Options", "Labels",
			 labels ? json_incref((json_t *)labels) : json_object());
}

static void networks_list_job(dk_job_t *j)
{
	pl_network_info_t **v = NULL;
	size_t n = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_network_list(dk_job_client(j), &v, &n, &err) < 0) {
		dk_reply_pl_error(j, err);
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
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "network %s not found", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
	_cleanup_error_ pl_error_t *err = NULL;
	pl_network_info_t *n = pl_network_create(dk_job_client(j), &s, &err);
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
		if (err->kind == PL_ERR_NOTFOUND)
			dk_job_reply_message(j, 404, "network %s not found", dk_job_param(j));
		else
			dk_reply_pl_error(j, err);
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
	int r = pl_network_connect(c, dk_job_param(j), ctr, ip, aliases, &err);
	if (r < 0 && no_such_route(err)) {
		/* no live connect in the port layer yet: a container that is not running
		 * changes networks through its handle */
		pl_error_free(err);
		err = NULL;
		if (on_network(c, ctr, dk_job_param(j))) {
			/* compose's disconnect-then-connect of a new container: the disconnect
			 * was kept (its last network), so it is connected already */
			dk_job_reply_empty(j, 200);
			return;
		}
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
		if (r < 0 && err->kind == PL_ERR_CONFLICT && strstr(err->msg, "last network")) {
			/* compose disconnects a new container to connect it again with its
			 * aliases: the connect replaces the endpoint, so let this one be */
			pl_log_info("dockerd: %s: kept until the next connect", err->msg);
			r = 0;
		}
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
} ev_ctx_t;

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
	    !filter_ok(x->filters, "container", ev->id, name))
		return 0;
	json_t *attrs = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)ev->attributes, k, v)
	{
		if (json_is_string(v))
			json_object_set(attrs, k, v);
		else if (!strcmp(k, "exit_code") && json_is_integer(v)) {
			char code[24];
			snprintf(code, sizeof(code), "%lld", (long long)json_integer_value(v));
			json_object_set_new(attrs, "exitCode", json_string(code));
		}
	}

	const char *type = ev->type ? ev->type : "";
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
	ev_ctx_t x = {.job = j, .filters = ftext && *ftext ? json_loads(ftext, 0, NULL) : NULL};
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

const pl_route_t dk_routes[] = {
    {"GET", "/_ping", h_ping},
    {"POST", "/build", dk_build_route, true},
    {"HEAD", "/_ping", h_ping_head},
    {"GET", "/version", h_version},
    {"GET", "/info", h_info},
    {"GET", "/events", h_events},
    {"GET", "/images/json", h_images},
    {"POST", "/images/create", h_image_create},
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
