/*
 * Memory for large buffers that are filled once, then read: snapshot
 * payloads and files, the state a snapshot takes. On the VMs wflow runs
 * on, touching a fresh 4 KiB page costs 5-11 us, so a buffer of tens of
 * MB costs more to fault in than to fill; one of 8 MiB or more is aligned
 * to 2 MiB and asks for transparent huge pages (a hint). Freed with
 * free(); pages never touched cost nothing, so an overestimate is cheap.
 */
#ifndef WF_REPLAY_BIGMEM_H
#define WF_REPLAY_BIGMEM_H

#include <stdlib.h>
#include <sys/mman.h>

static inline void *wf_big_alloc(size_t n)
{
	if (n < ((size_t)8 << 20))
		return malloc(n ? n : 1);
	void *p;
	if (posix_memalign(&p, (size_t)2 << 20, n) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, n & ~(((size_t)2 << 20) - 1), MADV_HUGEPAGE);
#endif
	return p;
}

#endif
