/*
 * wflow-torture faults: I/O errors and allocation failures, injected at
 * every call in turn (issue 7; SQLite's I/O-error and malloc loops).
 *
 *   wflow-torture faults [--quick] [--seed N] [--dir D] [--only CLASS]
 *                        [--errno ENOSPC|EIO] [--mode transient|persistent]
 *                        [--at N | --site H --nth K] [--verbose] [--trace]
 *                        [--keep] [--help]
 *
 * How it works. A fixed engine workload (workload_body() below: workflows
 * of several steps, one step failing its first try and retried, one
 * workflow failing; a dynamic continuation; two workflows at once; an
 * actor with writer and readonly calls; a cancel; a delete; metadata and
 * lists; small segments, so that segments roll over; snapshots every few
 * dozen events and at close; durability always) runs on an engine opened
 * with wf_open_with_io, whose wf_io fails calls on purpose. For each class
 * of call (class_tab: pwrite; fsync and fdatasync of files; fsync of
 * directories; open; rename; ftruncate; mkdir; unlink; pread and fstat;
 * directory listings; lock) and each errno (ENOSPC and EIO; EIO only for
 * reads, listings and locks), call N of the class fails, for N = 1, 2, ...
 * until a run makes fewer than N such calls: only call N ("transient":
 * the next call works again) and every call from N on ("persistent"). A
 * failing pwrite writes the first half of its bytes first, so the file
 * ends in a torn frame. Allocations the same way: malloc, calloc, realloc,
 * strdup, strndup and zstd's context constructors are wrapped at link
 * time for the whole program (-Wl,--wrap=..., torture/meson.build), and
 * cJSON's allocations go through the same wrappers (cJSON_InitHooks);
 * allocation N made on the library's behalf (not for the harness's own
 * bookkeeping) returns NULL.
 *
 * --quick fails each call site once instead of each call index: the
 * fault-free run first takes a census of the sites (a hash of the calling
 * stack within this program, site_hash) and how many calls each made;
 * then, per site, one run fails the nth call made from it (nth chosen by
 * --seed among them), transient and persistent. Every code path that does
 * I/O or allocates is failed at least once, in a third of the runs the
 * full loop makes; a path is failed in one of its states only, though
 * (the full loop fails each of its calls).
 *
 * Each run is a child process, so that a crash or a hang is a finding and
 * not the end of the harness (a hang prints its threads' stacks); its
 * workload runs in a thread of its own, so that the library's thread-exit
 * destructors run too. The child appends every acknowledged commit to a
 * file as it is acknowledged: a workflow that wf_run answered SUCCESSFUL
 * (its output and metadata) or FAILED, an actor created, an actor call
 * that returned 0 (its value), a cancel or a delete that returned 0 (and
 * a delete attempted: its workflow may be gone even if it failed). After
 * wf_close it waits for the engine's threads to end and compares the
 * count of live allocations with the count before wf_open. A second child
 * then opens the directory with plain POSIX I/O and checks.
 *
 * A run fails (counted in fault_failures) when:
 *  - a child crashed, or hung (30 s);
 *  - allocations leaked, or the engine's threads outlived wf_close;
 *  - the reopen failed, or the reopened engine could not run a workflow;
 *  - an acknowledged commit is missing (status, output, metadata; the
 *    actor's state must hold every acknowledged call, in order);
 *  - the journal holds a logical error (replay/logic.h, what `wflow
 *    verify` checks);
 *  - a call that must commit succeeded although it began after an fsync
 *    of the journal (a segment or its directory) had failed: the engine
 *    must never retry an fsync and report success (fsyncgate);
 *  - a call failed without saying why: WF_EIO without the injected
 *    errno's text, WF_ENOMEM without "out of memory", an empty message,
 *    or another error where the fault-free run has none, unless its
 *    message names the injected failure; or a read answered 0 with an
 *    incomplete answer (metadata, lists).
 * A fault that no call reported is counted (faults_silent) and is not a
 * failure: the engine may shrug off a failed snapshot or a failed removal
 * of an old file, which cost only replay time or disk space, and a step
 * that ran out of memory is retried.
 *
 * Figures, last, as name=value lines: per class faults_injected_CLASS and
 * fault_failures_CLASS, then fault_runs (runs in which a fault hit),
 * faults_silent, faults_injected (failed calls and allocations in all)
 * and fault_failures (failed runs). Exit 0: no failure; 1: a failure;
 * 2: usage or setup error (the fault-free run must pass every check).
 *
 * --quick also makes the workload smaller. --seed varies the workload's
 * numbers and which call of each site --quick fails. --only, --errno,
 * --mode, and --at (an index) or --site and --nth (as a failure printed
 * them) narrow the loops to rerun a finding; --trace prints the stack of
 * each injected fault, --keep keeps the last run's directory. --dir is
 * the scratch directory (default /dev/shm if it exists, else $TMPDIR or
 * /tmp; a fresh directory in it is removed at the end).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <zstd.h>

#include "engine/engine_int.h"
#include "replay/logic.h"
#include "torture/torture.h"

/* ---- what fails ---------------------------------------------------------- */

enum {
	C_WRITE,
	C_SYNC,
	C_DIRSYNC,
	C_OPEN,
	C_RENAME,
	C_TRUNCATE,
	C_MKDIR,
	C_UNLINK,
	C_READ,
	C_LIST,
	C_LOCK,
	C_ALLOC,
	C_COUNT
};

static const struct {
	const char *name;
	const char *what;
	int enospc; /* ENOSPC makes sense for it (EIO always does) */
} class_tab[C_COUNT] = {
	{"write", "pwrite", 1},
	{"fsync", "fsync and fdatasync of a file", 1},
	{"dirfsync", "fsync of a directory", 1},
	{"open", "open (files and directories)", 1},
	{"rename", "rename", 1},
	{"ftruncate", "ftruncate", 1},
	{"mkdir", "mkdir", 1},
	{"unlink", "unlink", 1},
	{"read", "pread and fstat", 0},
	{"list", "directory listing", 0},
	{"lock", "flock", 0},
	{"alloc", "malloc, calloc, realloc, strdup, strndup, zstd contexts", 0},
};

/* What a descriptor is: a directory, and under the journal's directory. */
enum { K_DIR = 1, K_JOURNAL = 2 };
#define NFD 4096

/*
 * The fault of a run: calls of class cls fail with err, chosen by index
 * (call `at` of the class, or every call from `at` on if persist), or by
 * site: the nth call made from the call stack whose hash is site (or every
 * call of the class from then on, if persist). A census run fails nothing
 * and records the sites of every call instead (site_hash, census_add).
 */
typedef struct fault {
	int cls; /* the class that fails, or -1 */
	int err; /* its errno (ENOMEM: allocations) */
	int persist;
	uint64_t at; /* 0: by site, or none */
	uint64_t site, nth;
	int census;
	atomic_int triggered;
	atomic_uint_fast64_t seen;
	atomic_uint_fast64_t calls[C_COUNT];
	atomic_uint_fast64_t injected;
	atomic_int jsync_failed; /* an fsync of the journal failed */
	char jdir[720];          /* <dir>/journal */
	size_t jdirlen;
	_Atomic unsigned char kind[NFD];
} fault;

static fault F;

static atomic_long a_live; /* allocations not freed (always counted) */
static atomic_int a_armed; /* allocations are counted and may fail */
static _Thread_local int tls_noinject; /* the harness's own bookkeeping */
static _Thread_local int tls_in_site;  /* (site_hash may allocate) */
static int g_trace; /* --trace: print where each fault hits */

/* The stack of an injected fault, on stderr (no allocation). */
static void trace(const char *what)
{
	if (!g_trace)
		return;
	void *pc[32];
	int n = backtrace(pc, 32);
	ssize_t w = write(2, what, strlen(what));
	w += write(2, " injected at:\n", 14);
	(void)w;
	backtrace_symbols_fd(pc, n, 2);
}

/* A call site: a hash of the return addresses of the calling stack in
 * this program (not in shared libraries, whose addresses change from run
 * to run), SITE_DEPTH - 1 frames deep. The same in every run of this
 * binary, whatever the interleaving of threads. */
extern char __executable_start, etext;
#define SITE_DEPTH 8

__attribute__((noinline)) static uint64_t site_hash(void)
{
	void *pc[SITE_DEPTH];
	int n = backtrace(pc, SITE_DEPTH);
	uint64_t h = 1469598103934665603ull;
	uintptr_t lo = (uintptr_t)&__executable_start, hi = (uintptr_t)&etext;
	for (int i = 1; i < n; i++) { /* (not site_hash) */
		uintptr_t a = (uintptr_t)pc[i];
		if (a < lo || a >= hi)
			continue;
		h ^= a - lo;
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

/* The census: each site of each class, how many calls came from it. */
#define MAX_SITES 4096
typedef struct site {
	uint64_t hash;
	uint32_t cls, count;
} site;
static site census[MAX_SITES];
static int ncensus;
static pthread_mutex_t census_mu = PTHREAD_MUTEX_INITIALIZER;

static void census_add(int c, uint64_t h)
{
	pthread_mutex_lock(&census_mu);
	int i = 0;
	while (i < ncensus &&
	       !(census[i].hash == h && census[i].cls == (uint32_t)c))
		i++;
	if (i < ncensus)
		census[i].count++;
	else if (ncensus < MAX_SITES)
		census[ncensus++] = (site){h, (uint32_t)c, 1};
	pthread_mutex_unlock(&census_mu);
}

/* Count a call of class c; should it fail? */
static int decide(int c)
{
	uint64_t n = atomic_fetch_add(&F.calls[c], 1) + 1;
	if ((!F.census && F.cls != c) || tls_in_site)
		return 0;
	tls_in_site = 1;
	int fail = 0;
	uint64_t h = 0;
	/* (One call of site_hash, so that the stacks it sees in a census and
	 * in a faulted run are the same.) */
	if (F.census || (F.site && !atomic_load(&F.triggered)))
		h = site_hash();
	if (F.census) {
		census_add(c, h);
	} else if (F.at) {
		fail = n == F.at || (F.persist && n > F.at);
	} else if (F.site && F.persist && atomic_load(&F.triggered)) {
		fail = 1;
	} else if (F.site && h == F.site &&
	           atomic_fetch_add(&F.seen, 1) + 1 == F.nth &&
	           !atomic_exchange(&F.triggered, 1)) {
		fail = 1;
	}
	tls_in_site = 0;
	if (fail) {
		atomic_fetch_add(&F.injected, 1);
		trace(c == C_ALLOC ? "allocation failure" : strerror(F.err));
	}
	return fail;
}

/* ---- allocation failures ------------------------------------------------- */

/*
 * The wrappers always count live allocations (for the leak check); they
 * count allocations, and fail the chosen one, only while armed and not on
 * a thread that does the harness's own bookkeeping (tls_noinject).
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void __real_free(void *p);
ZSTD_CCtx *__real_ZSTD_createCCtx(void);
size_t __real_ZSTD_freeCCtx(ZSTD_CCtx *c);
ZSTD_DCtx *__real_ZSTD_createDCtx(void);
size_t __real_ZSTD_freeDCtx(ZSTD_DCtx *d);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
ZSTD_CCtx *__wrap_ZSTD_createCCtx(void);
size_t __wrap_ZSTD_freeCCtx(ZSTD_CCtx *c);
ZSTD_DCtx *__wrap_ZSTD_createDCtx(void);
size_t __wrap_ZSTD_freeDCtx(ZSTD_DCtx *d);

/* Set by torture_faults before any thread: the other harnesses of this
 * program (crash, fscrash, load) get the real functions, uncounted. */
static int g_on;

static int alloc_fails(void)
{
	if (!atomic_load_explicit(&a_armed, memory_order_relaxed) ||
	    tls_noinject)
		return 0;
	return decide(C_ALLOC);
}

/* Is this allocation to fail (errno ENOMEM)? */
static int refused(void)
{
	if (!alloc_fails())
		return 0;
	errno = ENOMEM;
	return 1;
}

/* p, counted as live unless NULL. */
static void *counted(void *p)
{
	if (p)
		atomic_fetch_add(&a_live, 1);
	return p;
}

void *__wrap_malloc(size_t n)
{
	if (!g_on)
		return __real_malloc(n);
	return refused() ? NULL : counted(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (!g_on)
		return __real_calloc(n, size);
	return refused() ? NULL : counted(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t n)
{
	if (!g_on)
		return __real_realloc(p, n);
	if (n && alloc_fails()) {
		errno = ENOMEM;
		return NULL; /* p stays allocated */
	}
	void *q = __real_realloc(p, n);
	if (!p && q)
		atomic_fetch_add(&a_live, 1);
	else if (p && !q && !n)
		atomic_fetch_sub(&a_live, 1); /* realloc(p, 0) freed p */
	return q;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	if (!g_on)
		return __real_aligned_alloc(align, n);
	return refused() ? NULL : counted(__real_aligned_alloc(align, n));
}

void __wrap_free(void *p)
{
	if (p && g_on)
		atomic_fetch_sub(&a_live, 1);
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = __wrap_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = __wrap_malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

ZSTD_CCtx *__wrap_ZSTD_createCCtx(void)
{
	if (!g_on)
		return __real_ZSTD_createCCtx();
	return refused() ? NULL : counted(__real_ZSTD_createCCtx());
}

size_t __wrap_ZSTD_freeCCtx(ZSTD_CCtx *c)
{
	if (c && g_on)
		atomic_fetch_sub(&a_live, 1);
	return __real_ZSTD_freeCCtx(c);
}

ZSTD_DCtx *__wrap_ZSTD_createDCtx(void)
{
	if (!g_on)
		return __real_ZSTD_createDCtx();
	return refused() ? NULL : counted(__real_ZSTD_createDCtx());
}

size_t __wrap_ZSTD_freeDCtx(ZSTD_DCtx *d)
{
	if (d && g_on)
		atomic_fetch_sub(&a_live, 1);
	return __real_ZSTD_freeDCtx(d);
}

/* cJSON's hooks: the same counting wrappers. */
static void *cj_malloc(size_t n)
{
	return __wrap_malloc(n);
}

static void cj_free(void *p)
{
	__wrap_free(p);
}

/* ---- I/O faults ---------------------------------------------------------- */

static int fd_kind(int fd)
{
	return fd >= 0 && fd < NFD ? atomic_load(&F.kind[fd]) : 0;
}

static int in_journal(const char *path)
{
	return F.jdirlen && strncmp(path, F.jdir, F.jdirlen) == 0 &&
	       (path[F.jdirlen] == '\0' || path[F.jdirlen] == '/');
}

#define BASE wf_io_posix()

static int fi_open(void *c, const char *path, int flags)
{
	(void)c;
	if (decide(C_OPEN))
		return -F.err;
	int fd = BASE->open(BASE->ctx, path, flags);
	if (fd >= 0 && fd < NFD)
		atomic_store(
		        &F.kind[fd],
		        (unsigned char)(((flags & WF_IO_DIR) ? K_DIR : 0) |
		                        (in_journal(path) ? K_JOURNAL : 0)));
	return fd;
}

static int fi_close(void *c, int fd)
{
	(void)c;
	return BASE->close(BASE->ctx, fd);
}

static ssize_t fi_pread(void *c, int fd, void *b, size_t n, uint64_t off)
{
	(void)c;
	if (decide(C_READ))
		return -F.err;
	return BASE->pread(BASE->ctx, fd, b, n, off);
}

static ssize_t fi_pwrite(void *c, int fd, const void *b, size_t n, uint64_t off)
{
	(void)c;
	if (decide(C_WRITE)) {
		/* Half of it reaches the file: a torn write. */
		if (n > 1)
			BASE->pwrite(BASE->ctx, fd, b, n / 2, off);
		return -F.err;
	}
	return BASE->pwrite(BASE->ctx, fd, b, n, off);
}

static int sync_fails(int fd)
{
	int k = fd_kind(fd);
	if (!decide((k & K_DIR) ? C_DIRSYNC : C_SYNC))
		return 0;
	if (k & K_JOURNAL)
		atomic_store(&F.jsync_failed, 1);
	return 1;
}

static int fi_fsync(void *c, int fd)
{
	(void)c;
	if (sync_fails(fd))
		return -F.err;
	return BASE->fsync(BASE->ctx, fd);
}

static int fi_fdatasync(void *c, int fd)
{
	(void)c;
	if (sync_fails(fd))
		return -F.err;
	return BASE->fdatasync(BASE->ctx, fd);
}

static int fi_ftruncate(void *c, int fd, uint64_t len)
{
	(void)c;
	if (decide(C_TRUNCATE))
		return -F.err;
	return BASE->ftruncate(BASE->ctx, fd, len);
}

static int fi_fsize(void *c, int fd, uint64_t *size)
{
	(void)c;
	if (decide(C_READ))
		return -F.err;
	return BASE->fsize(BASE->ctx, fd, size);
}

static int fi_rename(void *c, const char *from, const char *to)
{
	(void)c;
	if (decide(C_RENAME))
		return -F.err;
	return BASE->rename(BASE->ctx, from, to);
}

static int fi_unlink(void *c, const char *path)
{
	(void)c;
	if (decide(C_UNLINK))
		return -F.err;
	return BASE->unlink(BASE->ctx, path);
}

static int fi_mkdir(void *c, const char *path)
{
	(void)c;
	if (decide(C_MKDIR))
		return -F.err;
	return BASE->mkdir(BASE->ctx, path);
}

static int fi_lock(void *c, int fd)
{
	(void)c;
	if (decide(C_LOCK))
		return -F.err;
	return BASE->lock(BASE->ctx, fd);
}

static int fi_list(void *c, const char *dir, wf_io_list_fn fn, void *ud)
{
	(void)c;
	if (decide(C_LIST))
		return -F.err;
	return BASE->list(BASE->ctx, dir, fn, ud);
}

static int fi_random(void *c, void *b, size_t n)
{
	(void)c;
	return BASE->random(BASE->ctx, b, n);
}

static const wf_io fault_io = {
	NULL,      fi_open,      fi_close,     fi_pread, fi_pwrite,
	fi_fsync,  fi_fdatasync, fi_ftruncate, fi_fsize, fi_rename,
	fi_unlink, fi_mkdir,     fi_lock,      fi_list,  fi_random,
};

/* ---- small helpers ------------------------------------------------------- */

static int contains(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; s && *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return 1;
	return 0;
}

static void put(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(int fd, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	for (const char *p = buf; n > 0;) {
		ssize_t w = write(fd, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (int)w;
	}
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000),
	                      (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Threads of this process. */
static int nthreads(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

/* ---- the workload -------------------------------------------------------- */

/* What a run found; the child sends it to the parent. */
typedef struct run_result {
	int finished; /* the child got to the end */
	long leaked;  /* live allocations after, minus before */
	int threads;  /* threads left after wf_close (1: none but main) */
	int errors;   /* calls that returned an unexpected error */
	int bad_msgs; /* ... without saying why */
	int gate;     /* acknowledged after a failed journal fsync */
	uint64_t injected;
	uint64_t calls[C_COUNT];
	int nsites; /* a census: the sites that follow the result */
	char first_bad[700];
	char first_gate[300];
} run_result;

enum { S_ADD, S_FLAKY, S_BOOM, S_COUNTDOWN, S_BLOCK, S_N };

typedef struct wl {
	const char *dir;
	int quick;
	uint64_t seed;
	int ackfd;
	int alloc_run; /* the faults are allocation failures */
	int err;       /* else the injected errno */
	wf_engine *e;
	wf_step *s[S_N];
	wf_actor_class *cls;
	wf_step *m_add, *m_get;
	atomic_int blocked; /* the blocking step started */
	run_result *res;
} wl;

/* Is m a message that says why rc happened, given the fault injected? */
static int says_why(const wl *w, int rc, const char *m)
{
	if (!m || !*m)
		return 0;
	int oom = contains(m, "out of memory") || contains(m, strerror(ENOMEM));
	if (rc == WF_ENOMEM)
		return w->alloc_run && oom;
	if (rc == WF_EIO)
		return !w->alloc_run && contains(m, strerror(w->err));
	return w->alloc_run ? oom : contains(m, strerror(w->err));
}

static void bad(wl *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void bad(wl *w, const char *fmt, ...)
{
	if (w->res->bad_msgs++)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->res->first_bad, sizeof w->res->first_bad, fmt, ap);
	va_end(ap);
}

/*
 * Judge a call's result. want: its result without faults. acked: the
 * result acknowledges a commit. gate0: an fsync of the journal had failed
 * before the call began. m: the message (wf_errmsg in the calling thread).
 */
static void judge(wl *w, const char *op, int rc, int want, int acked, int gate0,
                  const char *m)
{
	if (acked && gate0) {
		if (!w->res->gate++)
			snprintf(w->res->first_gate, sizeof w->res->first_gate,
			         "%s returned %d (%s) after an fsync of the "
			         "journal "
			         "had failed",
			         op, rc, rc ? wf_strerror(rc) : "ok");
	}
	if (rc == want)
		return;
	w->res->errors++;
	if (!says_why(w, rc, m))
		bad(w, "%s returned %d (%s) with message \"%s\"", op, rc,
		    wf_strerror(rc), m ? m : "(none)");
}

static int gate(void)
{
	return atomic_load(&F.jsync_failed);
}

/* Record an acknowledged commit: one line, written at once. */
#define ACK(w, ...) put((w)->ackfd, __VA_ARGS__)

static uint64_t splitmix_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double num_arg(const cJSON *args, int i)
{
	const cJSON *a = cJSON_GetArrayItem(args, i);
	return cJSON_IsNumber(a) ? a->valuedouble : 0;
}

static int set_num(wf_ctx *ctx, cJSON **out, double v)
{
	if (!(*out = cJSON_CreateNumber(v)))
		return wf_ctx_fail(ctx, "out of memory in step %s",
		                   wf_ctx_step_id(ctx));
	return 0;
}

static int st_add(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	double sum = 0;
	for (int i = 0; i < cJSON_GetArraySize(args); i++)
		sum += num_arg(args, i);
	return set_num(ctx, out, sum);
}

static int st_flaky(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	if (wf_ctx_attempt(ctx) == 1)
		return wf_ctx_fail(ctx, "flaky: the first try fails");
	return set_num(ctx, out, num_arg(args, 0));
}

static int st_boom(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)args;
	(void)ud;
	(void)out;
	return wf_ctx_fail(ctx, "boom: always fails");
}

static int st_countdown(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	wl *w = ud;
	double n = num_arg(args, 0);
	if (n <= 0) {
		if (!(*out = cJSON_CreateString("done")))
			return wf_ctx_fail(ctx, "out of memory in countdown");
		return 0;
	}
	wf_node *next;
	char a[32];
	snprintf(a, sizeof a, "%g", n - 1);
	int rc = wf_node_new(&next, w->s[S_COUNTDOWN], NULL);
	if (rc == 0 && (rc = wf_node_arg_json(next, a)) < 0)
		wf_node_free(next);
	if (rc < 0)
		return wf_ctx_fail(ctx, "countdown: %s", wf_errmsg(w->e));
	return wf_ctx_continue(ctx, next);
}

static int st_block(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)args;
	(void)out;
	wl *w = ud;
	atomic_store(&w->blocked, 1);
	while (wf_ctx_sleep(ctx, 5.0) == 0)
		;
	return WF_ECANCELED;
}

static int counter_init(const cJSON *args, void *ud, cJSON **state, char *err,
                        size_t errlen)
{
	(void)args;
	(void)ud;
	cJSON *s = cJSON_CreateObject();
	if (!s || !cJSON_AddNumberToObject(s, "n", 0) ||
	    !cJSON_AddArrayToObject(s, "log")) {
		cJSON_Delete(s);
		snprintf(err, errlen, "out of memory in init");
		return 1;
	}
	*state = s;
	return 0;
}

static int m_add(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	double v = num_arg(args, 0);
	cJSON *s = wf_ctx_state(ctx);
	cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "n");
	cJSON *log = cJSON_GetObjectItemCaseSensitive(s, "log");
	cJSON *x = cJSON_CreateNumber(v);
	if (!n || !log || !x || !cJSON_AddItemToArray(log, x)) {
		cJSON_Delete(x);
		return wf_ctx_fail(ctx, "out of memory in method add");
	}
	cJSON_SetNumberValue(n, n->valuedouble + v);
	return set_num(ctx, out, n->valuedouble);
}

static int m_get(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)args;
	(void)ud;
	cJSON *n = cJSON_GetObjectItemCaseSensitive(wf_ctx_state(ctx), "n");
	return set_num(ctx, out, n ? n->valuedouble : -1);
}

static int define_all(wl *w)
{
	static const char *names[S_N] = {"add", "flaky", "boom", "countdown",
	                                 "block"};
	static wf_step_fn fns[S_N] = {st_add, st_flaky, st_boom, st_countdown,
	                              st_block};
	char op[64];
	for (int i = 0; i < S_N; i++) {
		snprintf(op, sizeof op, "wf_step_define %s", names[i]);
		int rc = wf_step_define(w->e, names[i], fns[i], w, NULL,
		                        &w->s[i]);
		if (rc < 0) {
			judge(w, op, rc, 0, 0, 0, wf_errmsg(w->e));
			return rc;
		}
	}
	int rc = wf_actor_class_define(w->e, "Counter", counter_init, w,
	                               &w->cls);
	if (rc == 0)
		rc = wf_actor_method_define(w->cls, "add", m_add, w,
		                            WF_METHOD_WRITER, NULL, &w->m_add);
	if (rc == 0)
		rc = wf_actor_method_define(w->cls, "get", m_get, w,
		                            WF_METHOD_READONLY, NULL,
		                            &w->m_get);
	if (rc < 0)
		judge(w, "actor class Counter", rc, 0, 0, 0, wf_errmsg(w->e));
	return rc;
}

/* A node of step s with JSON arguments (texts, NULL-terminated); NULL if
 * building it failed (judged as op's failure). */
static wf_node *mk(wl *w, const char *op, wf_step *s, const wf_step_options *o,
                   ...)
{
	wf_node *n;
	int rc = wf_node_new(&n, s, o);
	va_list ap;
	va_start(ap, o);
	for (const char *a; rc == 0 && (a = va_arg(ap, const char *));)
		if ((rc = wf_node_arg_json(n, a)) < 0)
			wf_node_free(n);
	va_end(ap);
	if (rc < 0) {
		judge(w, op, rc, 0, 0, 0, wf_errmsg(w->e));
		return NULL;
	}
	return n;
}

/* Add child (taken) to n (freed with it on failure). @return 0 or -1. */
static int kid(wl *w, const char *op, wf_node **n, wf_node *child)
{
	if (!*n || !child) {
		wf_node_free(*n);
		wf_node_free(child);
		*n = NULL;
		return -1;
	}
	int rc = wf_node_arg_node(*n, child);
	if (rc < 0) {
		judge(w, op, rc, 0, 0, 0, wf_errmsg(w->e));
		wf_node_free(*n);
		*n = NULL;
		return -1;
	}
	return 0;
}

/* The harness's own JSON (never failed on purpose). */
static cJSON *harness_parse(const char *text)
{
	tls_noinject++;
	cJSON *v = cJSON_Parse(text);
	tls_noinject--;
	return v;
}

static char *harness_print(const cJSON *v)
{
	tls_noinject++;
	char *t = v ? cJSON_PrintUnformatted(v) : NULL;
	tls_noinject--;
	return t;
}

/* Run dag as id and record what wf_run acknowledged. want: 0 or
 * WF_EFAILED. @return wf_run's result. */
static int run_wf(wl *w, wf_node *dag, const char *id, const char *md, int want)
{
	char op[300];
	snprintf(op, sizeof op, "wf_run %s", id);
	cJSON *mdv = md ? harness_parse(md) : NULL;
	cJSON *out = NULL;
	int g0 = gate();
	int rc = wf_run(w->e, dag, id, mdv, &out);
	const char *m = rc ? wf_errmsg(w->e) : NULL;
	int acked = rc == 0 || rc == WF_EFAILED;
	if (rc == 0) {
		char *t = harness_print(out);
		ACK(w, "W %s %s\n", id, t ? t : "null");
		ACK(w, "M %s %s\n", id, md ? md : "{}");
		free(t);
	} else if (rc == WF_EFAILED) {
		ACK(w, "F %s\n", id);
	}
	judge(w, op, rc, want, acked, g0, m);
	cJSON_Delete(out);
	cJSON_Delete(mdv);
	return rc;
}

typedef struct waiter_arg {
	wf_future *f;
	int rc;
	char msg[600];
	atomic_int done;
} waiter_arg;

static void *future_waiter(void *arg)
{
	waiter_arg *a = arg;
	a->rc = wf_future_wait(a->f, NULL);
	snprintf(a->msg, sizeof a->msg, "%s", a->rc ? wf_errmsg(NULL) : "");
	atomic_store(&a->done, 1);
	return NULL;
}

/* What is missing from a metadata answer about wf-1 (or its step flaky,
 * if step), whose status is s; NULL if nothing. */
static const char *meta_wrong(const cJSON *m, int step, wf_status s)
{
	const cJSON *att = cJSON_GetObjectItemCaseSensitive(m, "attempts");
	if (!cJSON_IsArray(att) ||
	    !cJSON_GetObjectItemCaseSensitive(m, "stats"))
		return "no attempts or no stats";
	const cJSON *a;
	cJSON_ArrayForEach(a, att)
	{
		if (!cJSON_GetObjectItemCaseSensitive(a, "attempt") ||
		    !cJSON_GetObjectItemCaseSensitive(a, "start_time"))
			return "an attempt without its number or start time";
		if (s == WF_STATUS_SUCCESSFUL &&
		    !cJSON_GetObjectItemCaseSensitive(a, "outcome"))
			return "an attempt without its outcome";
	}
	if (step) {
		const cJSON *id =
		        cJSON_GetObjectItemCaseSensitive(m, "step_id");
		if (!cJSON_IsString(id) || strcmp(id->valuestring, "flaky") ||
		    !cJSON_GetObjectItemCaseSensitive(m, "step_options"))
			return "no step_id or step options";
		/* (More tries when a try ran out of memory.) */
		if (s == WF_STATUS_SUCCESSFUL && cJSON_GetArraySize(att) < 2)
			return "fewer tries than the step's two";
		return NULL;
	}
	cJSON *want = harness_parse("{\"i\":1,\"tag\":\"t7\"}");
	int same = cJSON_Compare(
	        cJSON_GetObjectItemCaseSensitive(m, "user_metadata"), want, 1);
	cJSON_Delete(want);
	if (!same)
		return "not the user metadata given";
	if (!cJSON_GetObjectItemCaseSensitive(m, "status"))
		return "no status";
	return NULL;
}

static int list_has(const cJSON *list, const char *id, const char *status)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, list)
	{
		const cJSON *i =
		        cJSON_GetObjectItemCaseSensitive(x, "workflow_id");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(x, "status");
		if (cJSON_IsString(i) && !strcmp(i->valuestring, id) &&
		    cJSON_IsString(s) && !strcmp(s->valuestring, status))
			return 1;
	}
	return 0;
}

static void workload_body(wl *w)
{
	char op[300], id[64], md[128], a[32], b[32];
	int nwf = w->quick ? 2 : 5, ncalls = w->quick ? 2 : 5;
	uint64_t st = w->seed;

	/* Workflows of four steps: add(flaky(x), add(i, 10)). */
	for (int i = 0; i < nwf; i++) {
		snprintf(id, sizeof id, "wf-%d", i);
		snprintf(op, sizeof op, "building %s", id);
		snprintf(a, sizeof a, "%d", (int)(splitmix_next(&st) % 1000));
		snprintf(b, sizeof b, "%d", i);
		snprintf(md, sizeof md, "{\"i\":%d,\"tag\":\"t%d\"}", i, i * 7);
		wf_node *top = mk(w, op, w->s[S_ADD], NULL, NULL);
		if (kid(w, op, &top, mk(w, op, w->s[S_FLAKY], NULL, a, NULL)) ||
		    kid(w, op, &top,
		        mk(w, op, w->s[S_ADD], NULL, b, "10", NULL)))
			continue;
		run_wf(w, top, id, md, 0);
	}

	/* Two at once (group commit, the workers). */
	wf_future *f[2] = {NULL, NULL};
	int frc[2] = {-1, -1}, g0 = gate();
	for (int k = 0; k < 2; k++) {
		snprintf(id, sizeof id, "as-%d", k);
		snprintf(op, sizeof op, "wf_run_async %s", id);
		snprintf(a, sizeof a, "%d", k);
		wf_node *n = mk(w, op, w->s[S_ADD], NULL, a, "100", NULL);
		if (!n)
			continue;
		frc[k] = wf_run_async(w->e, n, id, NULL, &f[k]);
		judge(w, op, frc[k], 0, 0, g0, frc[k] ? wf_errmsg(w->e) : NULL);
	}
	for (int k = 0; k < 2; k++) {
		if (frc[k] < 0)
			continue;
		cJSON *out = NULL;
		snprintf(id, sizeof id, "as-%d", k);
		snprintf(op, sizeof op, "wf_future_wait %s", id);
		int rc = wf_future_wait(f[k], &out);
		if (rc == 0) {
			char *t = harness_print(out);
			ACK(w, "W %s %s\n", id, t ? t : "null");
			free(t);
		} else if (rc == WF_EFAILED) {
			ACK(w, "F %s\n", id);
		}
		judge(w, op, rc, 0, rc == 0 || rc == WF_EFAILED, g0,
		      rc ? wf_errmsg(w->e) : NULL);
		cJSON_Delete(out);
		wf_future_free(f[k]);
	}

	/* A workflow that fails (one retry). */
	wf_step_options once = WF_STEP_OPTIONS_INIT;
	once.max_retries = 1;
	wf_node *n = mk(w, "building bad", w->s[S_BOOM], &once, NULL);
	if (n)
		run_wf(w, n, "bad", NULL, WF_EFAILED);

	/* A dynamic workflow: three continuations. */
	if ((n = mk(w, "building cd", w->s[S_COUNTDOWN], NULL, "3", NULL)))
		run_wf(w, n, "cd", NULL, 0);

	/* An actor: creation, writer calls, a readonly call. */
	wf_actor *act = NULL;
	g0 = gate();
	int rc = wf_actor_get_or_create(w->cls, "acct", NULL, &act);
	if (rc == 0)
		ACK(w, "A acct\n");
	judge(w, "wf_actor_get_or_create acct", rc, 0, rc == 0, g0,
	      rc ? wf_errmsg(w->e) : NULL);
	for (int k = 0; act && k < ncalls; k++) {
		int v = 1 + (int)(splitmix_next(&st) % 50);
		snprintf(a, sizeof a, "%d", v);
		snprintf(op, sizeof op, "wf_actor_call acct add(%d)", v);
		wf_node *c = mk(w, op, w->m_add, NULL, a, NULL);
		if (!c)
			continue;
		g0 = gate();
		rc = wf_actor_call(act, c, NULL);
		if (rc == 0)
			ACK(w, "C acct %d\n", v);
		judge(w, op, rc, 0, rc == 0, g0, rc ? wf_errmsg(w->e) : NULL);
	}
	if (act) {
		wf_node *c = mk(w, "readonly call get", w->m_get, NULL, NULL);
		cJSON *out = NULL;
		if (c) {
			rc = wf_actor_call(act, c, &out);
			judge(w, "wf_actor_call acct get", rc, 0, 0, 0,
			      rc ? wf_errmsg(w->e) : NULL);
			cJSON_Delete(out);
		}
		wf_actor_free(act);
	}

	/* A cancel, of a step that waits for it. */
	if ((n = mk(w, "building blk", w->s[S_BLOCK], NULL, NULL))) {
		waiter_arg wa = {NULL, 0, "", 0};
		g0 = gate();
		rc = wf_run_async(w->e, n, "blk", NULL, &wa.f);
		judge(w, "wf_run_async blk", rc, 0, 0, g0,
		      rc ? wf_errmsg(w->e) : NULL);
		pthread_t t;
		if (rc == 0 &&
		    pthread_create(&t, NULL, future_waiter, &wa) == 0) {
			/* Until the step runs, or the run ended (a fault). */
			while (!atomic_load(&w->blocked) &&
			       !atomic_load(&wa.done))
				sleep_ms(1);
			if (!atomic_load(&wa.done)) {
				g0 = gate();
				rc = wf_cancel(w->e, "blk");
				if (rc == 0)
					ACK(w, "X blk\n");
				judge(w, "wf_cancel blk", rc, 0, rc == 0, g0,
				      rc ? wf_errmsg(w->e) : NULL);
			}
			pthread_join(t, NULL);
			judge(w, "wf_future_wait blk", wa.rc, WF_ECANCELED, 0,
			      0, wa.msg);
		}
		wf_future_free(wa.f);
	}

	/* A delete. */
	wf_status s;
	if (wf_get_status(w->e, "wf-0", &s) == 0 && s == WF_STATUS_SUCCESSFUL) {
		g0 = gate();
		/* Attempted: wf-0 may be gone even if the delete fails. */
		ACK(w, "d wf-0\n");
		rc = wf_delete(w->e, "wf-0");
		if (rc == 0)
			ACK(w, "D wf-0\n");
		judge(w, "wf_delete wf-0", rc, 0, rc == 0, g0,
		      rc ? wf_errmsg(w->e) : NULL);
	}

	/* Reading: metadata, lists. An answer must be whole, or an error. */
	cJSON *out = NULL;
	const char *wrong;
	if (wf_get_status(w->e, "wf-1", &s) == 0) {
		rc = wf_get_metadata(w->e, "wf-1", NULL, &out);
		judge(w, "wf_get_metadata wf-1", rc, 0, 0, 0,
		      rc ? wf_errmsg(w->e) : NULL);
		if (rc == 0 && (wrong = meta_wrong(out, 0, s)))
			bad(w, "wf_get_metadata wf-1 answered 0, but %s",
			    wrong);
		cJSON_Delete(out);
		rc = wf_get_metadata(w->e, "wf-1", "flaky", &out);
		judge(w, "wf_get_metadata wf-1 flaky", rc,
		      s == WF_STATUS_SUCCESSFUL ? 0 : rc, 0, 0,
		      rc ? wf_errmsg(w->e) : NULL);
		if (rc == 0 && (wrong = meta_wrong(out, 1, s)))
			bad(w, "wf_get_metadata wf-1 flaky answered 0, but %s",
			    wrong);
		cJSON_Delete(out);
	}
	rc = wf_list_all(w->e, WF_STATUS_ALL, &out);
	judge(w, "wf_list_all", rc, 0, 0, 0, rc ? wf_errmsg(w->e) : NULL);
	if (rc == 0 && s == WF_STATUS_SUCCESSFUL &&
	    !list_has(out, "wf-1", "SUCCESSFUL"))
		bad(w, "wf_list_all answered 0 without wf-1 SUCCESSFUL");
	cJSON_Delete(out);
}

static void *workload(void *arg)
{
	wl *w = arg;
	wf_config cfg = WF_CONFIG_INIT;
	cfg.workers = 2;
	cfg.segment_size = 4096; /* rollovers: segments created as it runs */
	cfg.snapshot_every = 40; /* snapshots written while it runs */
	int g0 = gate();
	int rc = wf_open_with_io(&w->e, w->dir, &cfg, &fault_io);
	if (rc < 0) {
		judge(w, "wf_open", rc, 0, 0, g0, wf_errmsg(w->e));
		wf_close(w->e);
		return NULL;
	}
	if (define_all(w) == 0)
		workload_body(w);
	/* Its result is the final sync's: no message to judge (the engine
	 * is gone), and an error there is expected after a fault. */
	if (wf_close(w->e) < 0)
		w->res->errors++;
	return NULL;
}

/* A hung run prints the stack of each of its threads (stderr), then is
 * killed by its alarm. */
static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv = PTHREAD_COND_INITIALIZER;
static int wd_done;

static void on_dump(int sig)
{
	(void)sig;
	void *pc[48];
	char hdr[64];
	int n = backtrace(pc, 48);
	int len = snprintf(hdr, sizeof hdr, "thread %ld:\n",
	                   (long)syscall(SYS_gettid));
	if (write(2, hdr, (size_t)len) == len)
		backtrace_symbols_fd(pc, n, 2);
}

static void *watchdog(void *arg)
{
	(void)arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 25;
	pthread_mutex_lock(&wd_mu);
	int rc = 0;
	while (!wd_done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&wd_cv, &wd_mu, &ts);
	int hung = !wd_done;
	pthread_mutex_unlock(&wd_mu);
	if (!hung)
		return NULL;
	fprintf(stderr, "faults: the run hangs; the stacks of its threads:\n");
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	long self = (long)syscall(SYS_gettid);
	while (d && (de = readdir(d))) {
		long tid = atol(de->d_name);
		if (tid > 0 && tid != self) {
			syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
			sleep_ms(50);
		}
	}
	if (d)
		closedir(d);
	return NULL; /* the alarm ends the process */
}

/* The faulted run, in a child: sends its run_result on fd; exits. */
static void child_run(const char *dir, const char *ackpath, int quick,
                      uint64_t seed, int fd)
{
	static run_result r;
	alarm(30);
	void *pc[4];
	backtrace(pc, 4); /* (loads the unwinder now, not in the handler) */
	signal(SIGUSR1, on_dump);
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL) != 0)
		_exit(3);
	memset(&r, 0, sizeof r);
	wl w;
	memset(&w, 0, sizeof w);
	w.dir = dir;
	w.quick = quick;
	w.seed = seed;
	w.alloc_run = F.cls == C_ALLOC;
	w.err = F.err;
	w.res = &r;
	atomic_init(&w.blocked, 0);
	w.ackfd =
	        open(ackpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (w.ackfd < 0)
		_exit(3);
	long before = atomic_load(&a_live);
	atomic_store(&a_armed, 1);
	pthread_t t;
	if (pthread_create(&t, NULL, workload, &w) != 0)
		_exit(3);
	pthread_join(t, NULL);
	atomic_store(&a_armed, 0);
	pthread_mutex_lock(&wd_mu);
	wd_done = 1;
	pthread_cond_signal(&wd_cv);
	pthread_mutex_unlock(&wd_mu);
	pthread_join(wd, NULL);
	/* Workers still busy at wf_close end on their own, soon after. */
	double t0 = mono();
	while ((r.threads = nthreads()) > 1 && mono() - t0 < 10)
		sleep_ms(2);
	r.leaked = atomic_load(&a_live) - before;
	for (int c = 0; c < C_COUNT; c++)
		r.calls[c] = atomic_load(&F.calls[c]);
	r.injected = atomic_load(&F.injected);
	r.finished = 1;
	r.nsites = F.census ? ncensus : 0;
	close(w.ackfd);
	if (write(fd, &r, sizeof r) != (ssize_t)sizeof r ||
	    (r.nsites && write(fd, census, (size_t)r.nsites * sizeof *census) !=
	                         (ssize_t)((size_t)r.nsites * sizeof *census)))
		_exit(3);
	_exit(0);
}

/* ---- the check, with plain I/O ------------------------------------------- */

typedef struct vctx {
	char *why;
	size_t len;
	int fails;
} vctx;

static void vfail(vctx *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void vfail(vctx *v, const char *fmt, ...)
{
	size_t n = strlen(v->why);
	if (v->fails++ && n + 2 < v->len) {
		memcpy(v->why + n, "; ", 3);
		n += 2;
	}
	if (n + 1 >= v->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->why + n, v->len - n, fmt, ap);
	va_end(ap);
}

static char *read_text(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return calloc(1, 1); /* no acknowledgements */
	}
	char *p = calloc(1, (size_t)st.st_size + 1);
	size_t got = 0;
	while (p && got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return p;
}

/* The journal's logical check (what wflow verify does). */
static void check_logic(vctx *v, const char *dir)
{
	char jdir[720];
	snprintf(jdir, sizeof jdir, "%s/journal", dir);
	wf_reader *r;
	wf_logic *l = NULL;
	int rc = wf_reader_open(&r, jdir, NULL);
	if (rc == 0)
		rc = wf_logic_new(&l);
	const wf_event *ev;
	while (rc == 0 && (rc = wf_reader_next(r, &ev)) == 1)
		rc = wf_logic_event(l, ev);
	if (rc < 0)
		vfail(v, "reading the journal: %s", wf_reader_errmsg(r));
	wf_reader_close(r);
	if (!l)
		return;
	wf_logic_finish(l);
	size_t n;
	uint64_t errors, warnings;
	const wf_logic_issue *is = wf_logic_issues(l, &n, &errors, &warnings);
	for (size_t i = 0; i < n; i++)
		if (!is[i].warning) {
			vfail(v, "logical error at seq %" PRIu64 ": %s",
			      is[i].seq, is[i].what);
			break;
		}
	wf_logic_free(l);
}

static int has_line(const char *acks, char kind, const char *id)
{
	char pat[300];
	int n = snprintf(pat, sizeof pat, "%c %s\n", kind, id);
	for (const char *p = acks; p && *p;) {
		if (strncmp(p, pat, (size_t)n) == 0)
			return 1;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return 0;
}

static void check_status(vctx *v, wf_engine *e, const char *id, wf_status want,
                         const char *ack)
{
	wf_status s;
	int rc = wf_get_status(e, id, &s);
	if (rc < 0)
		vfail(v, "lost: %s acknowledged %s, now: %s", id, ack,
		      wf_errmsg(e));
	else if (s != want)
		vfail(v, "lost: %s acknowledged %s, now %s", id, ack,
		      wf_status_name(s));
}

/* The actor's state must hold every acknowledged call, in order. */
static void check_actor(vctx *v, wf_engine *e, wf_actor_class *cls,
                        const char *acks)
{
	wf_actor *a = NULL;
	cJSON *st = NULL;
	if (wf_actor_get(cls, "acct", &a) < 0 || wf_actor_state(a, &st) < 0) {
		vfail(v, "lost: actor acct acknowledged created: %s",
		      wf_errmsg(e));
		wf_actor_free(a);
		return;
	}
	const cJSON *log = cJSON_GetObjectItemCaseSensitive(st, "log");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "n");
	const cJSON *x = log ? log->child : NULL;
	double sum = 0;
	for (const cJSON *y = x; y; y = y->next)
		sum += y->valuedouble;
	if (!cJSON_IsNumber(n) || n->valuedouble != sum)
		vfail(v, "actor acct: n is not the sum of its log");
	for (const char *p = acks; *p;) {
		int val;
		if (sscanf(p, "C acct %d", &val) == 1) {
			while (x && x->valuedouble != val)
				x = x->next;
			if (!x) {
				vfail(v,
				      "lost: actor acct's acknowledged add(%d) "
				      "is not "
				      "in its state (in order)",
				      val);
				break;
			}
			x = x->next;
		}
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	cJSON_Delete(st);
	wf_actor_free(a);
}

static int noop_init(const cJSON *args, void *ud, cJSON **state, char *err,
                     size_t errlen)
{
	(void)args;
	(void)ud;
	(void)err;
	(void)errlen;
	*state = NULL;
	return 0;
}

/* Open dir with POSIX I/O and check every acknowledgement in acks. */
static void verify(vctx *v, const char *dir, const char *acks)
{
	wf_engine *e;
	wf_config cfg = WF_CONFIG_INIT;
	cfg.workers = 2;
	int rc = wf_open(&e, dir, &cfg);
	if (rc < 0) {
		vfail(v, "the directory no longer opens: %s (%s)", wf_errmsg(e),
		      wf_strerror(rc));
		wf_close(e);
		return;
	}
	wf_step *add = NULL;
	wf_actor_class *cls = NULL;
	if (wf_step_define(e, "add", st_add, NULL, NULL, &add) < 0 ||
	    wf_actor_class_define(e, "Counter", noop_init, NULL, &cls) < 0) {
		vfail(v, "defining steps: %s", wf_errmsg(e));
		wf_close(e);
		return;
	}
	char id[300];
	for (const char *p = acks; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[2048];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		p = nl ? nl + 1 : p + len;
		char *rest = NULL;
		if (sscanf(line + 2, "%299s", id) != 1)
			continue;
		rest = line + 2 + strlen(id);
		rest += *rest == ' ';
		int deleted = has_line(acks, 'd', id);
		cJSON *got = NULL, *want = NULL;
		switch (line[0]) {
		case 'W':
			if (deleted)
				break;
			check_status(v, e, id, WF_STATUS_SUCCESSFUL,
			             "SUCCESSFUL");
			want = cJSON_Parse(rest);
			if (wf_get_output(e, id, &got) == 0 &&
			    !cJSON_Compare(got, want, 1))
				vfail(v,
				      "%s: output %s acknowledged, differs now",
				      id, rest);
			break;
		case 'M':
			if (deleted)
				break;
			want = cJSON_Parse(rest);
			if (wf_get_metadata(e, id, NULL, &got) < 0)
				vfail(v, "%s: metadata: %s", id, wf_errmsg(e));
			else if (!cJSON_Compare(
			                 cJSON_GetObjectItemCaseSensitive(
			                         got, "user_metadata"),
			                 want, 1))
				vfail(v,
				      "%s: user metadata %s acknowledged, "
				      "differs "
				      "now",
				      id, rest);
			break;
		case 'F':
			check_status(v, e, id, WF_STATUS_FAILED, "FAILED");
			break;
		case 'X':
			check_status(v, e, id, WF_STATUS_CANCELED, "CANCELED");
			break;
		case 'D':
			if (wf_get_status(e, id, &(wf_status){0}) !=
			    WF_ENOTFOUND)
				vfail(v,
				      "%s: acknowledged deleted, still there",
				      id);
			break;
		case 'A':
			check_actor(v, e, cls, acks);
			break;
		}
		cJSON_Delete(got);
		cJSON_Delete(want);
	}
	/* Every workflow's metadata reads. */
	cJSON *list = NULL, *item;
	if ((rc = wf_list_all(e, WF_STATUS_ALL, &list)) < 0)
		vfail(v, "wf_list_all: %s", wf_errmsg(e));
	cJSON_ArrayForEach(item, list)
	{
		const cJSON *wid =
		        cJSON_GetObjectItemCaseSensitive(item, "workflow_id");
		cJSON *md = NULL;
		if (!cJSON_IsString(wid) ||
		    wf_get_metadata(e, wid->valuestring, NULL, &md) < 0)
			vfail(v, "metadata of a listed workflow: %s",
			      wf_errmsg(e));
		cJSON_Delete(md);
	}
	cJSON_Delete(list);
	/* ... and the engine takes new work. */
	wf_node *n = NULL;
	cJSON *out = NULL;
	rc = wf_node_new(&n, add, NULL);
	if (rc == 0 && (rc = wf_node_arg_json(n, "1")) == 0 &&
	    (rc = wf_node_arg_json(n, "2")) < 0)
		wf_node_free(n);
	if (rc == 0)
		rc = wf_run(e, n, "after-the-faults", NULL, &out);
	if (rc < 0)
		vfail(v, "a new workflow after the reopen: %s (%s)",
		      wf_errmsg(e), wf_strerror(rc));
	else if (!cJSON_IsNumber(out) || out->valuedouble != 3)
		vfail(v, "a new workflow after the reopen: wrong output");
	cJSON_Delete(out);
	if ((rc = wf_close(e)) < 0)
		vfail(v, "wf_close after the reopen: %s", wf_strerror(rc));
	check_logic(v, dir);
}

/* The check, in a child: writes what failed on fd; exit 0 or 1. */
static void child_verify(const char *dir, const char *ackpath, int fd)
{
	alarm(30);
	char why[2048] = "";
	vctx v = {why, sizeof why, 0};
	char *acks = read_text(ackpath);
	verify(&v, dir, acks ? acks : "");
	free(acks);
	if (v.fails)
		put(fd, "%s", why);
	_exit(v.fails ? 1 : 0);
}

/* ---- the loops ----------------------------------------------------------- */

typedef struct opts {
	int quick, verbose, keep;
	uint64_t seed;
	char root[600];
	int only;         /* a class, or -1 */
	int only_err;     /* an errno, or 0 */
	int only_mode;    /* 0 transient, 1 persistent, -1 both */
	uint64_t only_at; /* 0: all */
	uint64_t only_site, only_nth;
} opts;

typedef struct totals {
	uint64_t runs, hit_runs, injected, silent, failures;
	uint64_t c_injected[C_COUNT], c_failures[C_COUNT];
} totals;

/* Describe how a child ended, if badly, in why. @return 1 if badly. */
static int ended_badly(int status, const char *who, char *why, size_t len)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		if (sig == SIGALRM)
			snprintf(why, len, "%s hung (30 s)", who);
		else
			snprintf(why, len, "%s crashed: signal %d (%s)", who,
			         sig, strsignal(sig));
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) > 1) {
		snprintf(why, len, "%s exited with status %d", who,
		         WEXITSTATUS(status));
		return 1;
	}
	return 0;
}

/* What fails in a run (see struct fault). */
typedef struct spec {
	int cls; /* -1: nothing */
	int err;
	int persist;
	uint64_t at;        /* by index */
	uint64_t site, nth; /* else by site */
	int census;
} spec;

/* The census of the fault-free run: the sites to fail with --quick. */
static site sites[MAX_SITES];
static int nsites;

/*
 * One run: the faulted workload in a child, then the check in another.
 * @return 0, or 1 with the reasons in why.
 */
static int one_run(const opts *o, const spec *sp, run_result *r, char *why,
                   size_t len)
{
	char dir[700], ackpath[700], buf[2048];
	snprintf(dir, sizeof dir, "%s/run", o->root);
	snprintf(ackpath, sizeof ackpath, "%s/acks", o->root);
	rm_tree(dir);
	unlink(ackpath);
	F.cls = sp->cls;
	F.err = sp->err;
	F.persist = sp->persist;
	F.at = sp->at;
	F.site = sp->site;
	F.nth = sp->nth;
	F.census = sp->census;
	atomic_store(&F.triggered, 0);
	atomic_store(&F.seen, 0);
	for (int c = 0; c < C_COUNT; c++)
		atomic_store(&F.calls[c], 0);
	atomic_store(&F.injected, 0);
	atomic_store(&F.jsync_failed, 0);
	for (int fd = 0; fd < NFD; fd++)
		atomic_store(&F.kind[fd], 0);
	snprintf(F.jdir, sizeof F.jdir, "%s/journal", dir);
	F.jdirlen = strlen(F.jdir);

	why[0] = '\0';
	memset(r, 0, sizeof *r);
	int failed = 0, p[2], status;
	fflush(stdout);
	fflush(stderr);
	if (pipe(p) < 0)
		return snprintf(why, len, "pipe: %s", strerror(errno)), 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_run(dir, ackpath, o->quick, o->seed, p[1]);
	}
	close(p[1]);
	ssize_t got = 0;
	while (pid > 0 && got < (ssize_t)sizeof *r) {
		ssize_t n =
		        read(p[0], (char *)r + got, sizeof *r - (size_t)got);
		if (n <= 0)
			break;
		got += n;
	}
	if (got == (ssize_t)sizeof *r && r->nsites > 0 &&
	    r->nsites <= MAX_SITES) {
		size_t want = (size_t)r->nsites * sizeof *sites, have = 0;
		while (have < want) {
			ssize_t n =
			        read(p[0], (char *)sites + have, want - have);
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		nsites = have == want ? r->nsites : 0;
	}
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return 1;
	}
	char part[900];
	if (ended_badly(status, "the faulted run", part, sizeof part) ||
	    got != (ssize_t)sizeof *r) {
		if (got != (ssize_t)sizeof *r && !part[0])
			snprintf(part, sizeof part,
			         "the faulted run sent no result");
		snprintf(why, len, "%s", part);
		failed = 1;
		memset(r, 0, sizeof *r);
		r->injected = 1; /* it got somewhere: go on with the loop */
	} else {
		size_t n = 0;
		if (r->leaked)
			n += (size_t)snprintf(why + n, len - n,
			                      "%s%ld allocations "
			                      "leaked",
			                      n ? "; " : "", r->leaked);
		if (r->threads > 1 && n < len)
			n += (size_t)snprintf(why + n, len - n,
			                      "%s%d threads still "
			                      "running 10 s after wf_close",
			                      n ? "; " : "", r->threads - 1);
		if (r->gate && n < len)
			n += (size_t)snprintf(why + n, len - n,
			                      "%sfsyncgate: %s", n ? "; " : "",
			                      r->first_gate);
		if (r->bad_msgs && n < len)
			n += (size_t)snprintf(why + n, len - n, "%sunclear: %s",
			                      n ? "; " : "", r->first_bad);
		failed = n > 0;
	}

	/* The check, with plain I/O. */
	if (pipe(p) < 0)
		return snprintf(why, len, "pipe: %s", strerror(errno)), 1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_verify(dir, ackpath, p[1]);
	}
	close(p[1]);
	got = 0;
	while (pid > 0 && got < (ssize_t)sizeof buf - 1) {
		ssize_t n = read(p[0], buf + got, sizeof buf - 1 - (size_t)got);
		if (n <= 0)
			break;
		got += n;
	}
	buf[got > 0 ? got : 0] = '\0';
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return 1;
	}
	if (ended_badly(status, "the check", part, sizeof part) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == 1)) {
		size_t n = strlen(why);
		snprintf(why + n, len - n, "%s%s", n ? "; " : "",
		         part[0] ? part : buf);
		failed = 1;
	}
	return failed;
}

static const char *err_name(int err)
{
	return err == ENOSPC   ? "ENOSPC"
	       : err == EIO    ? "EIO"
	       : err == ENOMEM ? "NULL"
	                       : "-";
}

typedef struct loop {
	uint64_t runs, fails, inj, silent;
} loop;

/* One run of the loops, counted and reported. @return whether the fault
 * hit (the run made the call). */
static int tally(const opts *o, totals *t, loop *l, const spec *sp)
{
	static int shown;
	run_result r;
	char why[4096], what[200];
	int failed = one_run(o, sp, &r, why, sizeof why);
	if (sp->at)
		snprintf(what, sizeof what, "call %" PRIu64, sp->at);
	else
		snprintf(what, sizeof what,
		         "--site 0x%016" PRIx64 " --nth %" PRIu64, sp->site,
		         sp->nth);
	l->runs++;
	t->runs++;
	if (r.injected) {
		t->hit_runs++;
		l->inj += r.injected;
		if (!r.errors && !failed)
			l->silent++;
	}
	if (failed) {
		l->fails++;
		if (shown++ < 40 || o->verbose)
			printf("FAIL: %s %s %s, %s: %s\n",
			       class_tab[sp->cls].name, err_name(sp->err),
			       sp->persist ? "persistent" : "transient", what,
			       why);
	} else if (o->verbose) {
		printf("  ok: %s %s %s, %s: %" PRIu64 " injected, %d errors\n",
		       class_tab[sp->cls].name, err_name(sp->err),
		       sp->persist ? "persistent" : "transient", what,
		       r.injected, r.errors);
	}
	return r.injected != 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: wflow-torture faults [--quick] [--seed N] [--dir D]\n"
	        "         [--only CLASS] [--errno ENOSPC|EIO] "
	        "[--mode transient|persistent]\n"
	        "         [--at N | --site H --nth K] [--verbose] [--trace] "
	        "[--keep]\n\n"
	        "Fail each I/O call of a class (with ENOSPC, then EIO), and "
	        "each allocation,\nat every call index in turn, in a fixed "
	        "engine workload; check that the\nengine reported it, did not "
	        "crash or leak, and left a journal that opens with\nevery "
	        "acknowledged commit. Exit 0: no failure; 1: failures; 2: "
	        "usage/setup.\n\nclasses (--only):\n");
	for (int c = 0; c < C_COUNT; c++)
		fprintf(f, "  %-10s %s\n", class_tab[c].name,
		        class_tab[c].what);
	fprintf(f, "\n"
	           "  --quick    each call site once (by call stack), not each "
	           "call; a smaller\n             workload\n"
	           "  --seed N   the workload's numbers, and which call of a "
	           "site --quick\n             fails (default 1)\n"
	           "  --dir D    scratch directory (default /dev/shm, else "
	           "$TMPDIR or /tmp)\n"
	           "  --at N     only call index N (to rerun a finding)\n"
	           "  --site H --nth K  only the Kth call from site H (to "
	           "rerun a --quick\n             finding; same binary)\n"
	           "  --verbose  a line per run, every failure\n"
	           "  --trace    print the stack of each injected fault "
	           "(stderr)\n"
	           "  --keep     keep the scratch directory (the last run's "
	           "files)\n");
}

/* @return 0, 1 (and the default scratch directory was made), or -1. */
static int parse(int argc, char **argv, opts *o)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->only = -1;
	o->only_mode = -1;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--quick")) {
			o->quick = 1;
		} else if (!strcmp(a, "--verbose")) {
			o->verbose = 1;
		} else if (!strcmp(a, "--trace")) {
			g_trace = 1;
		} else if (!strcmp(a, "--keep")) {
			o->keep = 1;
		} else if (!strcmp(a, "--seed") && v) {
			o->seed = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--at") && v) {
			o->only_at = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--site") && v) {
			o->only_site = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--nth") && v) {
			o->only_nth = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--dir") && v) {
			dir = v;
			i++;
		} else if (!strcmp(a, "--errno") && v) {
			o->only_err = !strcmp(v, "ENOSPC") ? ENOSPC
			              : !strcmp(v, "EIO")  ? EIO
			                                   : -1;
			if (o->only_err < 0)
				return -1;
			i++;
		} else if (!strcmp(a, "--mode") && v) {
			o->only_mode = !strcmp(v, "transient")    ? 0
			               : !strcmp(v, "persistent") ? 1
			                                          : -2;
			if (o->only_mode == -2)
				return -1;
			i++;
		} else if (!strcmp(a, "--only") && v) {
			for (int c = 0; c < C_COUNT; c++)
				if (!strcmp(v, class_tab[c].name))
					o->only = c;
			if (o->only < 0)
				return -1;
			i++;
		} else {
			return -1;
		}
	}
	if (dir) {
		snprintf(o->root, sizeof o->root, "%s/wflow-faults-XXXXXX", dir);
		return 0;
	}
	/* /dev/shm if it takes a directory (the faults are injected: the
	 * medium does not matter, and fsyncs there cost nothing). */
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(o->root, sizeof o->root, "/dev/shm/wflow-faults-XXXXXX");
	if (mkdtemp(o->root))
		return 1;
	snprintf(o->root, sizeof o->root, "%s/wflow-faults-XXXXXX", tmp);
	return 0;
}

int torture_faults(int argc, char **argv)
{
	opts o;
	int made = parse(argc, argv, &o); /* 1: the scratch directory too */
	if (made < 0) {
		usage(stderr);
		return 2;
	}
	if (made == 0 && !mkdtemp(o.root)) {
		fprintf(stderr, "faults: cannot create %s: %s\n", o.root,
		        strerror(errno));
		return 2;
	}
	g_on = 1;
	cJSON_Hooks hooks = {cj_malloc, cj_free};
	cJSON_InitHooks(&hooks);
	void *pc[4];
	backtrace(pc, 4); /* (loads the unwinder before any fork) */
	setvbuf(stdout, NULL, _IOLBF, 0);
	double t0 = mono();

	/* The workload without faults, with a census of its call sites:
	 * every check must pass. */
	run_result base;
	char why[4096];
	spec census_run = {-1, 0, 0, 0, 0, 0, 1};
	if (one_run(&o, &census_run, &base, why, sizeof why)) {
		fprintf(stderr, "faults: the fault-free run fails: %s\n", why);
		rm_tree(o.root);
		return 2;
	}
	printf("faults: the fault-free run made");
	for (int c = 0; c < C_COUNT; c++) {
		int n = 0;
		for (int i = 0; i < nsites; i++)
			n += sites[i].cls == (uint32_t)c;
		printf("%s %" PRIu64 " %s (%d sites)", c ? "," : "",
		       base.calls[c], class_tab[c].name, n);
	}
	printf("\n");

	totals t;
	memset(&t, 0, sizeof t);
	for (int c = 0; c < C_COUNT; c++) {
		if (o.only >= 0 && c != o.only)
			continue;
		int errs[2] = {ENOSPC, EIO}, nerr = 2;
		if (c == C_ALLOC) {
			errs[0] = ENOMEM;
			nerr = 1;
		} else if (!class_tab[c].enospc) {
			errs[0] = EIO;
			nerr = 1;
		}
		for (int k = 0; k < nerr; k++) {
			if (o.only_err && c != C_ALLOC && errs[k] != o.only_err)
				continue;
			for (int persist = 0; persist <= 1; persist++) {
				if (o.only_mode >= 0 && persist != o.only_mode)
					continue;
				loop l = {0, 0, 0, 0};
				double l0 = mono();
				spec sp = {c, errs[k], persist, 0, 0, 0, 0};
				if (o.only_site) {
					sp.site = o.only_site;
					sp.nth = o.only_nth ? o.only_nth : 1;
					tally(&o, &t, &l, &sp);
				} else if (o.quick && !o.only_at) {
					/* Each site once: call nth from it, nth
					 * chosen by the seed among the calls
					 * the census counted. */
					for (int i = 0; i < nsites; i++) {
						if (sites[i].cls != (uint32_t)c)
							continue;
						uint64_t x =
						        o.seed ^ sites[i].hash;
						sp.site = sites[i].hash;
						sp.nth = 1 +
						         splitmix_next(&x) %
						                 sites[i].count;
						tally(&o, &t, &l, &sp);
					}
				} else {
					/* Every call index, until a run makes
					 * fewer calls than at, and the next one
					 * too (how many calls a run makes
					 * varies a little with timing: the
					 * snapshot threads). */
					uint64_t cap = 4 * base.calls[c] + 100;
					int misses = 0;
					for (sp.at = o.only_at ? o.only_at : 1;
					     sp.at <= cap; sp.at++) {
						int hit =
						        tally(&o, &t, &l, &sp);
						if (o.only_at ||
						    (!hit && misses++))
							break;
						if (hit)
							misses = 0;
					}
				}
				printf("faults: %-9s %-6s %-10s %5" PRIu64
				       " runs, %6" PRIu64 " injected, %3" PRIu64
				       " silent, %" PRIu64
				       " failures (%.1f s)\n",
				       class_tab[c].name, err_name(errs[k]),
				       persist ? "persistent" : "transient",
				       l.runs, l.inj, l.silent, l.fails,
				       mono() - l0);
				t.injected += l.inj;
				t.silent += l.silent;
				t.failures += l.fails;
				t.c_injected[c] += l.inj;
				t.c_failures[c] += l.fails;
			}
		}
	}
	if (o.keep)
		printf("faults: the last run's directory: %s/run\n", o.root);
	else
		rm_tree(o.root);
	printf("faults: %" PRIu64 " runs in %.1f s\n", t.runs, mono() - t0);
	for (int c = 0; c < C_COUNT; c++) {
		if (o.only >= 0 && c != o.only)
			continue;
		printf("faults_injected_%s=%" PRIu64 "\n", class_tab[c].name,
		       t.c_injected[c]);
		printf("fault_failures_%s=%" PRIu64 "\n", class_tab[c].name,
		       t.c_failures[c]);
	}
	printf("fault_runs=%" PRIu64 "\n", t.hit_runs);
	printf("faults_silent=%" PRIu64 "\n", t.silent);
	printf("faults_injected=%" PRIu64 "\n", t.injected);
	printf("fault_failures=%" PRIu64 "\n", t.failures);
	return t.failures ? 1 : 0;
}
