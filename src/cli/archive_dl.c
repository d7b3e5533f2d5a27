/* SPDX-License-Identifier: Apache-2.0 */
/* plctl: libarchive loaded on first use (archive_dl.h says why). */
#include <archive.h>
#include <archive_entry.h>

#define PL_ARCHIVE_DL_IMPL
#include "cli/archive_dl.h"

#include <dlfcn.h>
#include <stdbool.h>

/* libarchive's soname has been 13 since 3.0 (2011) */
#ifndef PL_LIBARCHIVE_SONAME
#define PL_LIBARCHIVE_SONAME "libarchive.so.13"
#endif

pl_cli_archive_fns_t pl_cli_ar;

int pl_cli_archive_load(pl_error_t **err)
{
	static bool loaded;
	if (loaded)
		return 0;
	void *h = dlopen(PL_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "load libarchive: %s", dlerror());
	pl_cli_archive_fns_t fns;
#define PL_ARCHIVE_RESOLVE(f)                                                                      \
	if (!(*(void **)&fns.f = dlsym(h, #f))) {                                                  \
		dlclose(h);                                                                        \
		return pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "load libarchive: no %s", #f);     \
	}
	PL_ARCHIVE_FUNCTIONS(PL_ARCHIVE_RESOLVE)
#undef PL_ARCHIVE_RESOLVE
	pl_cli_ar = fns;
	loaded = true;
	return 0;
}
