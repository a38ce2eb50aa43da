/* wflow-torture: dispatch to the harness named by argv[1]. */
#include <stdio.h>
#include <string.h>

#include "torture/torture.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} cmds[] = {
	{"crash", torture_crash,
	 "SIGKILL a random workload, reopen, check every acknowledged commit"},
	{"faults", torture_faults,
	 "fail each I/O call and each allocation in turn (ENOSPC, EIO, NULL)"},
	{"fscrash", torture_fscrash,
	 "crash the file system beneath the journal: unsynced writes kept, "
	 "dropped or garbled"},
	{"load", torture_load,
	 "100,000 workflows of 10 steps, 64 threads, durability always"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: wflow-torture COMMAND [OPTIONS]  (COMMAND --help "
	           "for its options)\n\ncommands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "wflow-torture: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
