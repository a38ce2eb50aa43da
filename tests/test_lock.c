/*
 * One writer per journal: a second wf_journal_open on the same directory,
 * from this process or another, gets WF_EBUSY with a message naming the
 * directory, until the first writer closes (or its process dies). Readers
 * take no lock.
 */
#include "test.h"

#include <sys/wait.h>

static void commit_one(wf_journal *j, uint64_t value)
{
	wf_batch *b;
	wf_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = 1;
	ev.time_ns = 1;
	ev.nfields = 1;
	ev.fields[0] = wf_field_u(value);
	CHECK_OK(wf_batch_new(&b));
	CHECK_OK(wf_batch_add(b, &ev));
	CHECK_OK_MSG(wf_journal_commit(j, b, NULL), wf_journal_errmsg(j));
	wf_batch_free(b);
}

/* The second open must fail with WF_EBUSY naming dir. */
static void expect_busy(const char *dir)
{
	wf_journal *j = NULL;
	CHECK_RC(wf_journal_open(&j, dir, NULL), WF_EBUSY);
	CHECK(j != NULL);
	CHECK_CONTAINS(wf_journal_errmsg(j), dir);
	CHECK_OK(wf_journal_close(j));
}

/* Run fn(dir) in a child process; return its exit status. */
static int in_child(void (*fn)(const char *), const char *dir)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fn(dir);
		_exit(0); /* CHECK failures exit(1) */
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status), "child status %d", status);
	return WEXITSTATUS(status);
}

/* Child: the lock is held elsewhere. */
static void child_busy(const char *dir)
{
	expect_busy(dir);
}

/* Child: open, commit one event and die without closing. */
static void child_crash(const char *dir)
{
	wf_journal *j = t_open_writer(dir, NULL);
	commit_one(j, 42);
	_exit(0);
}

static uint64_t count_events(const char *dir)
{
	uint64_t n;
	char msg[512];
	CHECK_OK_MSG(t_read_all(dir, NULL, NULL, NULL, &n, msg, sizeof msg), msg);
	return n;
}

int main(void)
{
	char dir[512];
	t_subdir(dir, sizeof dir, "j");

	wf_journal *j1 = t_open_writer(dir, NULL);
	commit_one(j1, 1);

	/* Same process, same directory. */
	expect_busy(dir);
	/* The same directory spelled differently is the same journal. */
	{
		char alias[600];
		snprintf(alias, sizeof alias, "%s/.", dir);
		wf_journal *j = NULL;
		CHECK_RC(wf_journal_open(&j, alias, NULL), WF_EBUSY);
		wf_journal_close(j);
	}
	/* The failed opens released nothing: still busy. */
	expect_busy(dir);
	/* Another process. */
	CHECK_EQ_U64(in_child(child_busy, dir), 0);
	/* A reader needs no lock. */
	CHECK_EQ_U64(count_events(dir), 1);

	CHECK_OK(wf_journal_close(j1));

	/* Now free, in this process ... */
	wf_journal *j2 = t_open_writer(dir, NULL);
	CHECK_EQ_U64(wf_journal_next_seq(j2), 2);
	commit_one(j2, 2);
	CHECK_EQ_U64(in_child(child_busy, dir), 0);
	CHECK_OK(wf_journal_close(j2));

	/* ... and in another, which dies holding it: the lock goes with the
	 * process and its acknowledged commit survives. */
	CHECK_EQ_U64(in_child(child_crash, dir), 0);
	wf_journal *j3 = t_open_writer(dir, NULL);
	CHECK_EQ_U64(wf_journal_next_seq(j3), 4);
	CHECK_OK(wf_journal_close(j3));
	CHECK_EQ_U64(count_events(dir), 3);

	printf("lock: EBUSY in-process and cross-process, released on close "
	       "and on exit\n");
	return 0;
}
