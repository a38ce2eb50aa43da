/*
 * `wflow-bench recovery`: recovery time of wflow against SQLite and a
 * file-per-step tree laid out as Ray Workflows stored it (see recovery.c).
 */
#ifndef WF_BENCH_RECOVERY_H
#define WF_BENCH_RECOVERY_H

/**
 * The recovery command (argv holds the arguments after "recovery").
 * Prints the table, then the figures as name=value lines last.
 * @return the process exit code: 0, 1 (a measurement failed), 2 (usage).
 */
int cmd_recovery(int argc, char **argv);

#endif
