/*
 * Growing arrays: room for one more element, doubling when full.
 */
#ifndef WF_REPLAY_VEC_H
#define WF_REPLAY_VEC_H

#include <stdlib.h>

/**
 * The array v (room for *cap elements of elem bytes, n in use) with room
 * for one more: v itself, or v grown to twice its room (first elements
 * the first time), *cap updated.
 * @return the array, or NULL out of memory (v and *cap unchanged).
 */
static inline void *wf_vec_room(void *v, size_t *cap, size_t n, size_t elem,
                                size_t first)
{
	if (n < *cap)
		return v;
	size_t c = *cap ? 2 * *cap : first;
	void *w = realloc(v, c * elem);
	if (w)
		*cap = c;
	return w;
}

#endif
