/* Helpers shared by the wflow-bench commands (see util.h). */
#include "bench/util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double process_cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "wflow-bench: out of memory\n");
		exit(2);
	}
	return q;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

long long rss_bytes(void)
{
	long long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	int n = fscanf(f, "%lld %lld", &size, &resident);
	fclose(f);
	return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

void machine(char *out, size_t n)
{
	struct utsname u;
	char model[128] = "unknown cpu";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (strncmp(line, "model name", 10) == 0) {
				char *c = strchr(line, ':');
				if (c) {
					c += 1 + (c[1] == ' ');
					c[strcspn(c, "\n")] = 0;
					snprintf(model, sizeof model, "%s", c);
				}
				break;
			}
		fclose(f);
	}
	long long mem = (long long)sysconf(_SC_PHYS_PAGES) *
	                sysconf(_SC_PAGESIZE);
	if (uname(&u) != 0)
		memset(&u, 0, sizeof u);
	snprintf(out, n, "%s %s %s, %s, %ld cpus, %.1f GiB RAM", u.sysname,
	         u.release, u.machine, model, sysconf(_SC_NPROCESSORS_ONLN),
	         (double)mem / (1 << 30));
}

const char *fs_name(const char *dir)
{
	struct statfs s;
	if (statfs(dir, &s) != 0)
		return "unknown";
	switch ((unsigned long)s.f_type) {
	case 0xEF53UL:
		return "ext4";
	case 0x58465342UL:
		return "xfs";
	case 0x9123683EUL:
		return "btrfs";
	case 0x01021994UL:
		return "tmpfs";
	case 0x794C7630UL:
		return "overlayfs";
	case 0x2FC12FC1UL:
		return "zfs";
	case 0x65735546UL:
		return "fuse";
	default:
		return "other";
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fprintf(stderr, "wflow-bench: cannot remove %s: %s\n", path,
		        strerror(errno));
	return 0;
}

void rm_tree(const char *path)
{
	nftw(path, rm_entry, 64, FTW_DEPTH | FTW_PHYS);
}

FILE *child_start(char **args, pid_t *pid)
{
	int fds[2];
	fflush(stdout);
	fflush(stderr);
	if (pipe(fds) != 0)
		return NULL;
	*pid = fork();
	if (*pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	if (!f) {
		close(fds[0]); /* the child gets EPIPE; reap it */
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	return f;
}

int child_finish(FILE *f, pid_t pid)
{
	if (f)
		fclose(f);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
