/*
 * The default I/O table: each entry is the POSIX call of the same name,
 * with EINTR retried and errors returned as -errno.
 */
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int px_open(void *ctx, const char *path, int flags)
{
	(void)ctx;
	int f = O_CLOEXEC;
	if (flags & WF_IO_DIR)
		f |= O_RDONLY | O_DIRECTORY;
	else
		f |= (flags & WF_IO_RDWR) ? O_RDWR : O_RDONLY;
	if (flags & WF_IO_CREATE)
		f |= O_CREAT;
	if (flags & WF_IO_EXCL)
		f |= O_EXCL;
	int fd;
	do
		fd = open(path, f, 0644);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static int px_close(void *ctx, int fd)
{
	(void)ctx;
	/* close() is not retried on EINTR: on Linux the fd is gone anyway. */
	return close(fd) < 0 ? -errno : 0;
}

static ssize_t px_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off)
{
	(void)ctx;
	ssize_t r;
	do
		r = pread(fd, buf, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t px_pwrite(void *ctx, int fd, const void *buf, size_t n,
                         uint64_t off)
{
	(void)ctx;
	ssize_t r;
	do
		r = pwrite(fd, buf, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int px_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd) < 0 ? -errno : 0;
}

static int px_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int px_ftruncate(void *ctx, int fd, uint64_t len)
{
	(void)ctx;
	return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

static int px_fsize(void *ctx, int fd, uint64_t *size)
{
	(void)ctx;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int px_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path) < 0 ? -errno : 0;
}

static int px_mkdir(void *ctx, const char *path)
{
	(void)ctx;
	return mkdir(path, 0755) < 0 ? -errno : 0;
}

static int px_lock(void *ctx, int fd)
{
	(void)ctx;
	/* flock locks belong to the open file description, so two opens in
	 * one process exclude each other too (fcntl locks would not). */
	int r;
	do
		r = flock(fd, LOCK_EX | LOCK_NB);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int px_list(void *ctx, const char *dir, wf_io_list_fn fn, void *ud)
{
	(void)ctx;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	int rc = 0;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (fn(ud, e->d_name))
			break;
		errno = 0;
	}
	if (errno)
		rc = -errno;
	closedir(d);
	return rc;
}

static int px_random(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	size_t done = 0;
	while (done < n) {
		ssize_t r = getrandom((char *)buf + done, n - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

static const wf_io posix_io = {
	NULL,         px_open,      px_close,  px_pread,  px_pwrite,
	px_fsync,     px_fdatasync, px_ftruncate, px_fsize, px_rename,
	px_unlink,    px_mkdir,     px_lock,   px_list,   px_random,
};

const wf_io *wf_io_posix(void)
{
	return &posix_io;
}
