/*
 * The journal's I/O seam: every system call the journal makes goes through
 * a wf_io table. The default (wf_io_posix) calls POSIX directly; tests wrap
 * it to inject ENOSPC/EIO at a chosen call, and the fuzzers serve segment
 * bytes from memory. This is also the narrow interface behind which the
 * segment-file store sits: nothing above it opens files by itself.
 *
 * Every function returns 0 (or a count/fd >= 0) on success and -errno on
 * failure; none of them sets errno for the caller to read.
 */
#ifndef WF_JOURNAL_IO_H
#define WF_JOURNAL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Flags for wf_io.open (a small, portable subset of open(2)'s). */
enum {
	WF_IO_RDONLY = 0,
	WF_IO_RDWR = 1,
	WF_IO_CREATE = 2, /**< create if missing */
	WF_IO_EXCL = 4,   /**< with CREATE: fail with -EEXIST if present */
	WF_IO_DIR = 8,    /**< open a directory (for fsync of the directory) */
};

/** Called once per directory entry by wf_io.list; return non-zero to stop. */
typedef int (*wf_io_list_fn)(void *ud, const char *name);

typedef struct wf_io {
	void *ctx; /**< passed as the first argument of every call */
	int (*open)(void *ctx, const char *path, int flags);
	int (*close)(void *ctx, int fd);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, uint64_t off);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n,
	                  uint64_t off);
	int (*fsync)(void *ctx, int fd);     /**< data and metadata (dirs too) */
	int (*fdatasync)(void *ctx, int fd); /**< data (and size) only */
	int (*ftruncate)(void *ctx, int fd, uint64_t len);
	int (*fsize)(void *ctx, int fd, uint64_t *size);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path);
	/** Take an exclusive, non-blocking lock on fd (-EWOULDBLOCK if held). */
	int (*lock)(void *ctx, int fd);
	/** Call fn for each entry of dir (order unspecified). */
	int (*list)(void *ctx, const char *dir, wf_io_list_fn fn, void *ud);
	/** Fill buf with n random bytes (the journal id). */
	int (*random)(void *ctx, void *buf, size_t n);
} wf_io;

/** The default table: plain POSIX calls. Static; never NULL. */
const wf_io *wf_io_posix(void);

#endif
