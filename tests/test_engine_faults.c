/*
 * An fsync that fails while another commit is in flight (found by
 * wflow-torture faults, as a hang one run in a few hundred):
 *
 * Workflow y's step is running; workflow x is started, and its commit
 * (created, RUNNING: synced) waits in fdatasync. Meanwhile y's step ends:
 * its result is a commit that needs no sync of its own (it is synced with
 * the others later), so the journal writes it, after x's, and reports it
 * written. Then x's fdatasync fails. The engine applies commits to its
 * state in journal order, so y's result waits for x's turn; x's commit
 * failed, but it had taken its sequence numbers. It must still take its
 * turn: y's result then goes on (and fails at its own sync, the journal
 * being poisoned), and nothing hangs. Before the fix, y's worker waited
 * for x forever and wf_close with it.
 *
 * The test drives the order with an I/O table whose next fdatasync blocks
 * until the test releases it, then fails with EIO; no timing is assumed
 * (a hang is caught by the alarm).
 */
#include "engine_util.h"

#include <pthread.h>
#include <signal.h>

#include "engine/engine_int.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int armed;        /* the next fdatasync blocks, then fails */
static int blocked;      /* it is blocked now */
static int released;     /* let it fail */
static int writes_since; /* pwrites while it is blocked */
static int gate_running, gate_open;

static void wait_for(int *flag, int value)
{
	pthread_mutex_lock(&mu);
	while (*flag < value)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void set(int *flag, int value)
{
	pthread_mutex_lock(&mu);
	*flag = value;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

#define BASE wf_io_posix()

static ssize_t io_pwrite(void *c, int fd, const void *b, size_t n, uint64_t off)
{
	(void)c;
	pthread_mutex_lock(&mu);
	if (blocked && !released) {
		writes_since++;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return BASE->pwrite(BASE->ctx, fd, b, n, off);
}

static int io_fdatasync(void *c, int fd)
{
	(void)c;
	pthread_mutex_lock(&mu);
	int fail = armed;
	if (fail) {
		armed = 0;
		blocked = 1;
		pthread_cond_broadcast(&cv);
		while (!released)
			pthread_cond_wait(&cv, &mu);
	}
	pthread_mutex_unlock(&mu);
	return fail ? -EIO : BASE->fdatasync(BASE->ctx, fd);
}

static int st_gate(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)ud;
	set(&gate_running, 1);
	wait_for(&gate_open, 1);
	*out = cJSON_CreateNumber(1);
	return 0;
}

static int st_two(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)ud;
	*out = cJSON_CreateNumber(2);
	return 0;
}

typedef struct run_x {
	wf_engine *e;
	wf_step *two;
	int rc;
	char msg[600];
} run_x;

static void *start_x(void *arg)
{
	run_x *x = arg;
	wf_node *n;
	CHECK_OK(wf_node_new(&n, x->two, NULL));
	x->rc = wf_run(x->e, n, "x", NULL, NULL);
	snprintf(x->msg, sizeof x->msg, "%s", wf_errmsg(x->e));
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "test_engine_faults: FAIL: hung: a commit "
	                        "written while an earlier one synced never "
	                        "completed after that sync failed\n";
	ssize_t w = write(2, m, sizeof m - 1);
	(void)w;
	_exit(1);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(60);
	wf_io io = *wf_io_posix();
	io.pwrite = io_pwrite;
	io.fdatasync = io_fdatasync;
	char dir[512];
	t_subdir(dir, sizeof dir, "sync_fails_in_flight");
	wf_config cfg = WF_CONFIG_INIT;
	cfg.durability = WF_SYNC_ALWAYS;
	cfg.workers = 2;
	wf_engine *e;
	CHECK_OK_MSG(wf_open_with_io(&e, dir, &cfg, &io), wf_errmsg(e));
	wf_step *gate, *two;
	CHECK_OK(wf_step_define(e, "gate", st_gate, NULL, NULL, &gate));
	CHECK_OK(wf_step_define(e, "two", st_two, NULL, NULL, &two));

	/* y's step runs, held at the gate. */
	wf_node *n;
	wf_future *fy;
	CHECK_OK(wf_node_new(&n, gate, NULL));
	CHECK_OK_MSG(wf_run_async(e, n, "y", NULL, &fy), wf_errmsg(e));
	wait_for(&gate_running, 1);

	/* x's first commit waits in fdatasync... */
	set(&armed, 1);
	run_x x = {e, two, 0, ""};
	pthread_t t;
	CHECK(pthread_create(&t, NULL, start_x, &x) == 0);
	wait_for(&blocked, 1);
	/* ... while y's result is written after it... */
	set(&gate_open, 1);
	wait_for(&writes_since, 1);
	/* ... then the fdatasync fails. */
	set(&released, 1);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_RC(x.rc, WF_EIO);
	CHECK_CONTAINS(x.msg, strerror(EIO));
	/* y's result goes on (and fails at its own sync: poisoned). */
	int rc = wf_future_wait(fy, NULL);
	CHECK_RC(rc, WF_EIO);
	CHECK_CONTAINS(wf_errmsg(e), strerror(EIO));
	wf_future_free(fy);
	wf_close(e); /* (nothing left to sync: every failure was reported) */

	/* The directory opens, and takes work. */
	e = e_open(dir, WF_SYNC_ALWAYS);
	CHECK_OK(wf_step_define(e, "two", st_two, NULL, NULL, &two));
	cJSON *out = NULL;
	CHECK_OK(wf_node_new(&n, two, NULL));
	CHECK_OK_MSG(wf_run(e, n, "after", NULL, &out), wf_errmsg(e));
	CHECK(cJSON_IsNumber(out) && out->valuedouble == 2);
	cJSON_Delete(out);
	CHECK_OK(wf_close(e));
	printf("engine_faults: a failed fsync under a later commit: no hang\n");
	return 0;
}
