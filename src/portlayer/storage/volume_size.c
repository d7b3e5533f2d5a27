/* SPDX-License-Identifier: Apache-2.0 */
/* The bytes a volume's data uses, computed on request (GET /volumes?size=1). */
#include "portlayer/storage/volumes.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct seen {
	dev_t dev;
	ino_t ino;
} seen_t;

typedef struct walk {
	int64_t total;
	seen_t *seen; /* hard-linked files, counted once */
	size_t nseen, cap;
} walk_t;

static bool seen_before(walk_t *w, const struct stat *st)
{
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
			return true;
	if (w->nseen == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->seen = pl_xrealloc(w->seen, w->cap * sizeof(*w->seen));
	}
	w->seen[w->nseen++] = (seen_t){st->st_dev, st->st_ino};
	return false;
}

/* Like Docker's: the apparent sizes of everything but directories, on this file system
 * only (a mount inside is not the volume's), symlinks not followed. */
static void walk_dir(walk_t *w, int dirfd, dev_t dev, int depth)
{
	if (depth > 256)
		return;
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				walk_dir(w, fd, dev, depth + 1);
			continue;
		}
		if (st.st_nlink > 1 && seen_before(w, &st))
			continue;
		w->total += st.st_size;
	}
	closedir(d);
}

int64_t pl_volume_size(pl_volumes_t *v, const char *name)
{
	_cleanup_free_ char *path = pl_volume_data_path(v, name);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	walk_t w = {0};
	walk_dir(&w, fd, st.st_dev, 0);
	free(w.seen);
	return w.total;
}
