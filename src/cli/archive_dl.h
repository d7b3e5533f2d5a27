/* SPDX-License-Identifier: Apache-2.0 */
/* libarchive, loaded when plctl cp first needs it rather than at every plctl start: linked
 * normally it (and the compression libraries, libxml2 and libacl it pulls in) would be
 * mapped and relocated by every `plctl run`. Include it after <archive.h> and
 * <archive_entry.h> in the one file that uses them: each function used is called through a
 * pointer that pl_cli_archive_load fills (same names, same prototypes, checked by the
 * compiler through __typeof__). Owns the library handle for the life of the process. */
#pragma once

#include "common/error.h"

#include <archive.h>
#include <archive_entry.h>

#define PL_ARCHIVE_FUNCTIONS(X)                                                                    \
	X(archive_error_string)                                                                    \
	X(archive_entry_clear)                                                                     \
	X(archive_entry_copy_hardlink)                                                             \
	X(archive_entry_copy_pathname)                                                             \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_free)                                                                      \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_new)                                                                       \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_size)                                                                      \
	X(archive_entry_sourcepath)                                                                \
	X(archive_read_data_block)                                                                 \
	X(archive_read_disk_descend)                                                               \
	X(archive_read_disk_new)                                                                   \
	X(archive_read_disk_open)                                                                  \
	X(archive_read_disk_set_standard_lookup)                                                   \
	X(archive_read_disk_set_symlink_physical)                                                  \
	X(archive_read_free)                                                                       \
	X(archive_read_new)                                                                        \
	X(archive_read_next_header)                                                                \
	X(archive_read_next_header2)                                                               \
	X(archive_read_open_fd)                                                                    \
	X(archive_read_support_format_tar)                                                         \
	X(archive_write_close)                                                                     \
	X(archive_write_data)                                                                      \
	X(archive_write_data_block)                                                                \
	X(archive_write_disk_new)                                                                  \
	X(archive_write_disk_set_options)                                                          \
	X(archive_write_free)                                                                      \
	X(archive_write_header)                                                                    \
	X(archive_write_new)                                                                       \
	X(archive_write_open_fd)                                                                   \
	X(archive_write_set_format_pax_restricted)

#define PL_ARCHIVE_POINTER(f) __typeof__(f) *f;
typedef struct pl_cli_archive_fns {
	PL_ARCHIVE_FUNCTIONS(PL_ARCHIVE_POINTER)
} pl_cli_archive_fns_t;
#undef PL_ARCHIVE_POINTER

extern pl_cli_archive_fns_t pl_cli_ar;

/* dlopens libarchive (PL_LIBARCHIVE_SONAME, the soname the build linked against) and
 * resolves every function above; later calls return at once. In the static plctl
 * (archive_exec.c) there is no dynamic loader to do that with: it runs the same command
 * again in plctl-dynamic, its sibling linked against the shared libc, and returns only when
 * that cannot be run (with plctl's own arguments: pl_cli_main_argv, cli.h). */
int pl_cli_archive_load(pl_error_t **err);

/* From here on the names above are the pointers (not in archive_dl.c, which fills them). */
#ifndef PL_ARCHIVE_DL_IMPL
#define archive_error_string			(pl_cli_ar.archive_error_string)
#define archive_entry_clear			(pl_cli_ar.archive_entry_clear)
#define archive_entry_copy_hardlink		(pl_cli_ar.archive_entry_copy_hardlink)
#define archive_entry_copy_pathname		(pl_cli_ar.archive_entry_copy_pathname)
#define archive_entry_filetype			(pl_cli_ar.archive_entry_filetype)
#define archive_entry_free			(pl_cli_ar.archive_entry_free)
#define archive_entry_hardlink			(pl_cli_ar.archive_entry_hardlink)
#define archive_entry_new			(pl_cli_ar.archive_entry_new)
#define archive_entry_pathname			(pl_cli_ar.archive_entry_pathname)
#define archive_entry_size			(pl_cli_ar.archive_entry_size)
#define archive_entry_sourcepath		(pl_cli_ar.archive_entry_sourcepath)
#define archive_read_data_block			(pl_cli_ar.archive_read_data_block)
#define archive_read_disk_descend		(pl_cli_ar.archive_read_disk_descend)
#define archive_read_disk_new			(pl_cli_ar.archive_read_disk_new)
#define archive_read_disk_open			(pl_cli_ar.archive_read_disk_open)
#define archive_read_disk_set_standard_lookup	(pl_cli_ar.archive_read_disk_set_standard_lookup)
#define archive_read_disk_set_symlink_physical	(pl_cli_ar.archive_read_disk_set_symlink_physical)
#define archive_read_free			(pl_cli_ar.archive_read_free)
#define archive_read_new			(pl_cli_ar.archive_read_new)
#define archive_read_next_header		(pl_cli_ar.archive_read_next_header)
#define archive_read_next_header2		(pl_cli_ar.archive_read_next_header2)
#define archive_read_open_fd			(pl_cli_ar.archive_read_open_fd)
#define archive_read_support_format_tar		(pl_cli_ar.archive_read_support_format_tar)
#define archive_write_close			(pl_cli_ar.archive_write_close)
#define archive_write_data			(pl_cli_ar.archive_write_data)
#define archive_write_data_block		(pl_cli_ar.archive_write_data_block)
#define archive_write_disk_new			(pl_cli_ar.archive_write_disk_new)
#define archive_write_disk_set_options		(pl_cli_ar.archive_write_disk_set_options)
#define archive_write_free			(pl_cli_ar.archive_write_free)
#define archive_write_header			(pl_cli_ar.archive_write_header)
#define archive_write_new			(pl_cli_ar.archive_write_new)
#define archive_write_open_fd			(pl_cli_ar.archive_write_open_fd)
#define archive_write_set_format_pax_restricted (pl_cli_ar.archive_write_set_format_pax_restricted)
#endif
