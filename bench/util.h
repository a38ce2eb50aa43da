/*
 * Small helpers shared by the wflow-bench commands (wflow-bench.c and
 * recovery.c): clocks, allocation that ends the benchmark on failure, the
 * machine's description, tree removal.
 */
#ifndef WF_BENCH_UTIL_H
#define WF_BENCH_UTIL_H

#include <stddef.h>

/** Seconds on the monotonic clock. */
double now_s(void);

/** realloc, or print "out of memory" and exit(2): a benchmark stops. */
void *xrealloc(void *p, size_t n);

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

#endif
