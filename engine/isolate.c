/*
 * Isolated steps: each attempt of a step defined with isolate = 1 runs in
 * a worker process, fork()ed for the attempt.
 *
 * How it works. The engine thread that runs the attempt creates a pipe and
 * forks. The child already has the arguments (fork copied the memory), so
 * nothing is sent to it. It leaves the engine's process group for one of
 * its own, asks the kernel to SIGKILL it if the engine's thread dies,
 * points every close-on-exec descriptor at /dev/null (the journal's
 * segments and lock, the other attempts' pipes: nothing the step does can
 * reach them, and the journal's flock does not outlive the engine), calls
 * the step function, and writes one frame to the pipe: an 8-byte length,
 * then {"rc", "error", "out" | "cont"} as JSON; then _exit(0).
 *
 * The engine thread reads the frame with poll(), waking every POLL_MS to
 * check for cancel and close: then it SIGKILLs the child's process group
 * and the attempt ends with nothing recorded (like any cancelled step).
 * When the frame is complete, or the child is gone, the group is killed
 * (nothing an attempt started outlives it) and the child reaped. A child
 * that ends without a whole frame (a signal, exit(), a crash) is a failed
 * attempt whose error names the signal or the exit status; it is retried
 * per max_retries like any other failure.
 *
 * A continuation (wf_ctx_continue in the child) comes back as a flat list
 * of nodes, children after their parents, arguments naming nodes by index;
 * the engine rebuilds it with the public node API, finding the steps by
 * name in its own table.
 *
 * Why fork and not a pool of long-lived workers: the step function is a C
 * function pointer with udata in the engine's memory; only a copy of that
 * memory can call it. The price is a fork per attempt (page tables are
 * copied: it grows with the engine process's resident memory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __GLIBC__
#include <stdio_ext.h>
#endif

#include "engine_int.h"

/* How often a waiting engine thread checks for cancel and close (ms). */
#define POLL_MS 20

/* Set in a worker process (which has one thread: the one that forked). */
static int in_child;

int wf_isolate_in_child(void)
{
	return in_child;
}

int wf_isolate_sleep(double seconds)
{
	if (!(seconds > 0))
		return 0;
	if (seconds > 1e9) /* 30 years: a time_t on every platform */
		seconds = 1e9;
	struct timespec ts;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec > 999999999)
		ts.tv_nsec = 999999999;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return 0;
}

int wf_isolate_wanted(const wf_engine *e, const wf_step *s)
{
	if (s->cls)
		return 0; /* an actor's state lives in the engine's process */
	if (s->isolate != WF_UNSET)
		return s->isolate != 0;
	return e->cfg.isolate != 0;
}

int wf_step_options_load(wf_step_options *out, const wf_step_options *in)
{
	static const wf_step_options init = WF_STEP_OPTIONS_INIT;
	*out = init;
	if (!in)
		return 0;
	if (in->version == 1) {
		/* Version 1 ended before isolate. */
		memcpy(out, in, offsetof(wf_step_options, isolate));
	} else if (in->version == WF_STEP_OPTIONS_VERSION) {
		*out = *in;
	} else {
		return WF_EINVAL;
	}
	out->version = WF_STEP_OPTIONS_VERSION;
	return 0;
}

/* ---- the child ---- */

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Point fd at /dev/null if it is close-on-exec (see the opening comment). */
static void scrub_fd(int fd, int keep1, int keep2, int null_fd)
{
	if (fd == keep1 || fd == keep2 || fd == null_fd)
		return;
	int fl = fcntl(fd, F_GETFD);
	if (fl >= 0 && (fl & FD_CLOEXEC))
		dup2(null_fd, fd);
}

static void scrub_fds(int keep)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
				scrub_fd(atoi(de->d_name), keep, dirfd(d),
				         null_fd);
		closedir(d);
	} else {
		long max = sysconf(_SC_OPEN_MAX);
		if (max < 0 || max > 65536)
			max = 65536;
		for (int fd = 0; fd < (int)max; fd++)
			scrub_fd(fd, keep, -1, null_fd);
	}
	close(null_fd);
}

/* A continuation as a flat list: [{"fn", "name", "metadata", "max_retries",
 * "catch_exceptions", "checkpoint", "args": [{"value"} | {"node": i}]}],
 * breadth-first from the root (index 0). */
static cJSON *nodes_json(wf_node *root)
{
	size_t cap = 16, n = 0, head = 0;
	wf_node **q = malloc(cap * sizeof *q);
	cJSON *arr = cJSON_CreateArray();
	if (!q || !arr)
		goto fail;
	q[n++] = root;
	while (head < n) {
		wf_node *x = q[head++];
		cJSON *o = cJSON_CreateObject(), *args;
		if (!o || !cJSON_AddItemToArray(arr, o) ||
		    !cJSON_AddStringToObject(o, "fn", x->fn) ||
		    !cJSON_AddStringToObject(o, "name", x->name) ||
		    !cJSON_AddStringToObject(o, "metadata", x->metadata) ||
		    !cJSON_AddNumberToObject(o, "max_retries",
		                             x->max_retries) ||
		    !cJSON_AddNumberToObject(o, "catch_exceptions",
		                             x->catch_exceptions) ||
		    !cJSON_AddNumberToObject(o, "checkpoint", x->checkpoint) ||
		    !(args = cJSON_AddArrayToObject(o, "args")))
			goto fail;
		for (size_t i = 0; i < x->nargs; i++) {
			cJSON *a = cJSON_CreateObject();
			if (!a || !cJSON_AddItemToArray(args, a))
				goto fail;
			if (!x->args[i].child) {
				cJSON *v = cJSON_Duplicate(x->args[i].value, 1);
				if (!v || !cJSON_AddItemToObject(a, "value", v))
					goto fail;
				continue;
			}
			if (n == cap) {
				wf_node **p = realloc(q, 2 * cap * sizeof *q);
				if (!p)
					goto fail;
				q = p;
				cap *= 2;
			}
			if (!cJSON_AddNumberToObject(a, "node", (double)n))
				goto fail;
			q[n++] = x->args[i].child;
		}
	}
	free(q);
	return arr;
fail:
	free(q);
	cJSON_Delete(arr);
	return NULL;
}

static _Noreturn void child_main(wf_ctx *ctx, wf_step *s, const cJSON *args,
                                 int wfd, pid_t parent)
{
	in_child = 1;
	setpgid(0, 0);
#ifdef __linux__
	/* The engine's thread waits for us: if it is gone, so is the
	 * engine (a crash, an exit), and nobody will read our result. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
#else
	(void)parent;
#endif
	scrub_fds(wfd);
#ifdef __GLIBC__
	/* What the engine's threads had buffered is theirs to write. */
	__fpurge(stdout);
#endif
	cJSON *out = NULL;
	int frc = s->fn(ctx, args, s->udata, &out);
	fflush(stdout);
	fflush(stderr);

	cJSON *r = cJSON_CreateObject();
	int ok = r && cJSON_AddNumberToObject(r, "rc", frc) &&
	         (!ctx->error ||
	          cJSON_AddStringToObject(r, "error", ctx->error)) &&
	         (!ctx->error_lost || cJSON_AddTrueToObject(r, "error_lost"));
	if (ok && frc == 0 && ctx->cont) {
		cJSON *c = nodes_json(ctx->cont);
		ok = c && cJSON_AddItemToObject(r, "cont", c);
	} else if (ok && frc == 0) {
		ok = cJSON_AddItemToObject(r, "out",
		                           out ? out : cJSON_CreateNull());
		if (ok)
			out = NULL;
	}
	char *text = ok ? cJSON_PrintUnformatted(r) : NULL;
	static const char nomem[] = "{\"rc\":-2,\"error\":\"out of memory in "
	                            "the worker process, sending the result\"}";
	const char *body = text ? text : nomem;
	uint64_t len = strlen(body);
	/* One write when it fits: the engine's thread wakes up once. */
	char *frame = malloc(sizeof len + (size_t)len);
	if (frame) {
		memcpy(frame, &len, sizeof len);
		memcpy(frame + sizeof len, body, (size_t)len);
		if (write_all(wfd, frame, sizeof len + (size_t)len) < 0)
			_exit(1);
	} else if (write_all(wfd, &len, sizeof len) < 0 ||
	           write_all(wfd, body, (size_t)len) < 0) {
		_exit(1);
	}
	_exit(0);
}

/* ---- the engine's side ---- */

static const char *signal_name(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
	        {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"},
	        {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
	        {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL"},
	        {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
	        {SIGQUIT, "SIGQUIT"}, {SIGPIPE, "SIGPIPE"},
	        {SIGHUP, "SIGHUP"},   {SIGALRM, "SIGALRM"},
	        {SIGTRAP, "SIGTRAP"}, {SIGSYS, "SIGSYS"},
	        {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
	        {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].sig == sig)
			return names[i].name;
	return NULL;
}

typedef struct rbuf {
	char *p;
	size_t n, cap;
} rbuf;

/* The length of the frame's body, once its header is in. */
static uint64_t frame_len(const rbuf *b)
{
	uint64_t len = UINT64_MAX;
	if (b->n >= sizeof len)
		memcpy(&len, b->p, sizeof len);
	return len;
}

/* 1 when b holds a whole frame. */
static int frame_done(const rbuf *b)
{
	return b->n >= sizeof(uint64_t) &&
	       b->n - sizeof(uint64_t) >= frame_len(b);
}

/* Read what is there. @return 1 at EOF, 0 after data, 2 if there was
 * nothing to read yet, -1 on a failure (errno set). */
static int read_some(int fd, rbuf *b)
{
	if (b->cap - b->n < 4096) {
		size_t cap = b->cap ? b->cap * 2 : 65536;
		char *p = realloc(b->p, cap);
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	ssize_t n = read(fd, b->p + b->n, b->cap - b->n);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 2 : -1;
	if (n == 0)
		return 1;
	b->n += (size_t)n;
	return 0;
}

static void kill_group(pid_t pid)
{
	if (kill(-pid, SIGKILL) < 0)
		kill(pid, SIGKILL);
}

static int reap(pid_t pid, int *status)
{
	pid_t r;
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	return r == pid ? 0 : -1;
}

/* Rebuild the continuation c (nodes_json's list) in the engine. */
static int nodes_build(wf_ctx *ctx, const cJSON *c, wf_node **out)
{
	int n = cJSON_GetArraySize(c);
	if (n <= 0)
		return wf_ctx_fail(ctx, "the worker process sent an empty "
		                        "continuation");
	wf_node **nodes = calloc((size_t)n, sizeof *nodes);
	if (!nodes)
		return wf_ctx_fail(ctx, "out of memory reading a continuation");
	int rc = 0;
	/* Children come after their parents: build from the end. */
	for (int i = n - 1; i >= 0 && rc == 0; i--) {
		const cJSON *x = cJSON_GetArrayItem(c, i);
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(x, "fn");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(x, "name");
		const cJSON *md =
		        cJSON_GetObjectItemCaseSensitive(x, "metadata");
		const cJSON *mr =
		        cJSON_GetObjectItemCaseSensitive(x, "max_retries");
		const cJSON *ce =
		        cJSON_GetObjectItemCaseSensitive(x, "catch_exceptions");
		const cJSON *cp =
		        cJSON_GetObjectItemCaseSensitive(x, "checkpoint");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(x, "args");
		if (!cJSON_IsString(fn) || !cJSON_IsString(name) ||
		    !cJSON_IsString(md) || !cJSON_IsNumber(mr) ||
		    !cJSON_IsNumber(ce) || !cJSON_IsNumber(cp) ||
		    !cJSON_IsArray(args)) {
			rc = wf_ctx_fail(ctx,
			                 "the worker process sent a malformed "
			                 "continuation");
			break;
		}
		wf_step *st = wf_step_find(ctx->e, fn->valuestring);
		if (!st) {
			rc = wf_ctx_fail(ctx,
			                 "continuation: step %s is not defined "
			                 "in the engine's process",
			                 fn->valuestring);
			break;
		}
		cJSON *mdo = cJSON_Parse(md->valuestring);
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		o.name = name->valuestring;
		o.metadata = mdo;
		o.max_retries = mr->valueint;
		o.catch_exceptions = ce->valueint;
		o.checkpoint = cp->valueint;
		rc = mdo ? wf_node_new(&nodes[i], st, &o) : WF_ENOMEM;
		cJSON_Delete(mdo);
		if (rc < 0) {
			rc = wf_ctx_fail(ctx, "continuation: %s: %s",
			                 name->valuestring, wf_errmsg(ctx->e));
			break;
		}
		const cJSON *a;
		cJSON_ArrayForEach(a, args)
		{
			const cJSON *v =
			        cJSON_GetObjectItemCaseSensitive(a, "value");
			const cJSON *k =
			        cJSON_GetObjectItemCaseSensitive(a, "node");
			int j = cJSON_IsNumber(k) ? k->valueint : -1;
			if (v) {
				rc = wf_node_arg(nodes[i], v);
			} else if (j > i && j < n && nodes[j]) {
				rc = wf_node_arg_node(nodes[i], nodes[j]);
				nodes[j] = NULL;
			} else {
				rc = wf_ctx_fail(ctx,
				                 "the worker process sent a "
				                 "malformed continuation");
				break;
			}
			if (rc < 0) {
				rc = wf_ctx_fail(ctx, "continuation: %s",
				                 wf_errmsg(ctx->e));
				break;
			}
		}
	}
	if (rc == 0)
		*out = nodes[0];
	for (int i = rc == 0 ? 1 : 0; i < n; i++)
		wf_node_free(nodes[i]);
	free(nodes);
	return rc;
}

/* The step's outcome from the child's frame (len bytes of JSON at body). */
static int take_result(wf_ctx *ctx, const char *body, size_t len, cJSON **out)
{
	cJSON *r = cJSON_ParseWithLength(body, len);
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(r, "rc");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error");
	cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "out");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "cont");
	int frc;
	if (!cJSON_IsNumber(rc) || (err && !cJSON_IsString(err)) ||
	    (rc->valueint == 0 && !o == !c)) {
		frc = wf_ctx_fail(ctx,
		                  "step '%s' attempt %d: the worker process "
		                  "sent a malformed result (%zu bytes)",
		                  ctx->step, ctx->try_n, len);
	} else {
		frc = rc->valueint;
		if (err)
			wf_ctx_fail(ctx, "%s", err->valuestring);
		else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		                 r, "error_lost")))
			ctx->error_lost = 1;
		if (frc == 0 && c) {
			wf_node *n = NULL;
			frc = nodes_build(ctx, c, &n);
			if (frc == 0)
				frc = wf_ctx_continue(ctx, n);
		} else if (frc == 0) {
			*out = cJSON_DetachItemViaPointer(r, o);
		}
	}
	cJSON_Delete(r);
	return frc;
}

int wf_isolate_call(wf_ctx *ctx, wf_step *s, const cJSON *args, cJSON **out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return wf_ctx_fail(ctx,
		                   "step '%s' attempt %d: cannot create a "
		                   "pipe for the worker process: %s",
		                   ctx->step, ctx->try_n, strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		close(p[0]);
		close(p[1]);
		return wf_ctx_fail(ctx,
		                   "step '%s' attempt %d: cannot start a "
		                   "worker process: fork: %s",
		                   ctx->step, ctx->try_n, strerror(err));
	}
	if (pid == 0) {
		close(p[0]);
		child_main(ctx, s, args, p[1], parent);
	}
	close(p[1]);
	setpgid(pid, pid); /* the child does it too: whichever is first */

	rbuf b = {NULL, 0, 0};
	int status = 0, gone = 0, eof = 0, cancelled = 0, rerr = 0;
	unsigned nap_ms = 1;
	while (!frame_done(&b)) {
		if (wf_ctx_cancelled(ctx)) {
			cancelled = 1;
			break;
		}
		if (!eof) {
			struct pollfd pf = {p[0], POLLIN, 0};
			int n = poll(&pf, 1, POLL_MS);
			if (n > 0) {
				int r = read_some(p[0], &b);
				if (r < 0) {
					rerr = errno;
					break;
				}
				eof = r == 1;
				if (!eof)
					continue;
			} else if (n < 0 && errno != EINTR) {
				rerr = errno;
				break;
			}
		} else {
			/* The pipe is closed: the child is exiting, or closed
			 * it and goes on. Wait for it, still watching for
			 * cancel. */
			poll(NULL, 0, (int)nap_ms);
			if (nap_ms < POLL_MS)
				nap_ms *= 2;
		}
		/* Ended? (Not reaped yet: its pid stays ours to signal.) */
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) <
		    0) {
			if (errno == EINTR)
				continue;
			gone = 1; /* reaped by someone else */
		} else if (si.si_pid != pid) {
			continue; /* still running */
		}
		/* What it wrote before it ended is in the pipe. */
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		int r;
		while (!frame_done(&b) && (r = read_some(p[0], &b)) == 0)
			;
		break;
	}
	close(p[0]);
	/* Done, ended, cancelled or broken: whatever the attempt started in
	 * its process group goes with it; then reap. */
	if (!gone) {
		kill_group(pid);
		gone = reap(pid, &status) < 0;
	}
	int frc;
	if (cancelled) {
		frc = WF_ECANCELED;
	} else if (frame_done(&b)) {
		frc = take_result(ctx, b.p + sizeof(uint64_t),
		                  (size_t)frame_len(&b), out);
	} else if (rerr) {
		frc = wf_ctx_fail(ctx,
		                  "step '%s' attempt %d: reading the worker "
		                  "process's result: %s",
		                  ctx->step, ctx->try_n, strerror(rerr));
	} else if (gone) {
		frc = wf_ctx_fail(
		        ctx,
		        "step '%s' attempt %d: lost the worker "
		        "process %d: someone else reaped it (is SIGCHLD "
		        "ignored?)",
		        ctx->step, ctx->try_n, (int)pid);
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *name = signal_name(sig);
		if (name)
			frc = wf_ctx_fail(
			        ctx,
			        "step '%s' attempt %d: worker process "
			        "killed by %s%s",
			        ctx->step, ctx->try_n, name,
			        WCOREDUMP(status) ? " (core dumped)" : "");
		else
			frc = wf_ctx_fail(
			        ctx,
			        "step '%s' attempt %d: worker process "
			        "killed by signal %d",
			        ctx->step, ctx->try_n, sig);
	} else if (WIFEXITED(status)) {
		frc = wf_ctx_fail(ctx,
		                  "step '%s' attempt %d: worker process "
		                  "exited with status %d without a result",
		                  ctx->step, ctx->try_n, WEXITSTATUS(status));
	} else {
		frc = wf_ctx_fail(ctx,
		                  "step '%s' attempt %d: worker process "
		                  "ended without a result (wait status 0x%x)",
		                  ctx->step, ctx->try_n, (unsigned)status);
	}
	free(b.p);
	return frc;
}
