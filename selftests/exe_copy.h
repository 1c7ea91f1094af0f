/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copies of the running test binary, patched or not, for tests of
 * executable-digest grants: the program's main() runs attach_helper() for
 * "--attach NAME", so a copy can be executed to try an attach and report
 * its result as its exit status.
 */
#ifndef MPKLINK_EXE_COPY_H
#define MPKLINK_EXE_COPY_H

#include <sodium.h>
#include <sys/stat.h>

#include "mpklink_test.h"

/* Patched in copies of this binary to change its digest. */
static const volatile char patch_marker[] = "MPKLINK-PATCH-MARKER-0";

static inline int attach_helper(const char *name)
{
	int fd = mpk_attach_fresh(name, NULL);

	return mpk_errno_code(fd);
}

static inline int read_whole_file(const char *path, unsigned char **data, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || fstat(fd, &st))
		return -1;
	*data = malloc(st.st_size);
	n = *data ? read(fd, *data, st.st_size) : -1;
	close(fd);
	*len = st.st_size;
	return n == st.st_size ? 0 : -1;
}

static inline int sha256_file(const char *path, unsigned char digest[32])
{
	unsigned char *data;
	size_t len;

	if (read_whole_file(path, &data, &len))
		return -1;
	crypto_hash_sha256(digest, data, len);
	free(data);
	return 0;
}

/* Copies this binary to @path; with @patch, changes one byte of it. */
static inline int copy_self(const char *path, int patch)
{
	unsigned char *data, *marker;
	size_t len;
	int fd, ok;

	if (read_whole_file("/proc/self/exe", &data, &len))
		return -1;
	if (patch) {
		marker = memmem(data, len, (const char *)patch_marker,
				sizeof(patch_marker) - 1);
		if (!marker)
			return -1;
		marker[sizeof(patch_marker) - 2] = '1';
	}
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
	free(data);
	return (fd >= 0 && !close(fd) && ok) ? 0 : -1;
}

/* Flips the marker of the file at @path in place (same inode). */
static inline int patch_in_place(const char *path, char to)
{
	unsigned char *data, *marker;
	size_t len;
	int fd, ok;

	if (read_whole_file(path, &data, &len))
		return -1;
	marker = memmem(data, len, (const char *)patch_marker,
			sizeof(patch_marker) - 2);
	if (!marker)
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ok = fd >= 0 && pwrite(fd, &to, 1, marker - data +
			       sizeof(patch_marker) - 2) == 1;
	free(data);
	return (fd >= 0 && !close(fd) && ok) ? 0 : -1;
}

/* Runs "@exe --attach @name"; returns its exit code. */
static inline int run_helper(const char *exe, const char *name)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(exe, exe, "--attach", name, (char *)NULL);
		_exit(126);
	}
	return mpk_wait(pid);
}

#endif /* MPKLINK_EXE_COPY_H */
