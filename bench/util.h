/*
 * Small helpers shared by the wflow-bench commands (wflow-bench.c and
 * recovery.c): clocks, allocation that ends the benchmark on failure, the
 * machine's description, tree removal.
 */
#ifndef WF_BENCH_UTIL_H
#define WF_BENCH_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/** Seconds on the monotonic clock. */
double now_s(void);

/** realloc, or print "out of memory" and exit(2): a benchmark stops. */
void *xrealloc(void *p, size_t n);

/** CPU seconds this process has used so far, user and system, on all its
 *  threads (those that ended included). */
double process_cpu_s(void);

/** qsort comparator for doubles, ascending. */
int cmp_double(const void *a, const void *b);

/** Resident set size of this process in bytes, or -1. */
long long rss_bytes(void);

/** "Linux 6.1 x86_64, <cpu model>, 2 cpus, 23.4 GiB RAM" into out. */
void machine(char *out, size_t n);

/** The file system dir lives on: "ext4", "tmpfs", ..., "other". */
const char *fs_name(const char *dir);

/** Remove the tree at path (files first), printing what it cannot. */
void rm_tree(const char *path);

/**
 * Run this program again (/proc/self/exe) with args (NULL-terminated;
 * args[0] is its argv[0]), its stdout a pipe: the stream to read it from,
 * with *pid set. @return NULL if the pipe or the fork failed.
 */
FILE *child_start(char **args, pid_t *pid);

/** Close the child's stream and reap it. @return its exit status, or -1
 *  if it did not exit normally. */
int child_finish(FILE *f, pid_t pid);

#endif
