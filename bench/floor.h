/*
 * The decompression floor of a journal: what any reader of it does before
 * it looks at a single event (read each segment, check each frame's
 * checksum, decompress its payload), on one thread, timed in that
 * thread's CPU seconds. verify, stats and meta cannot go faster than this
 * on one core, and a replay's fold runs after it: the benches print it
 * next to their own figures, so a figure bound by the machine says so.
 */
#ifndef WF_BENCH_FLOOR_H
#define WF_BENCH_FLOOR_H

#include <stdint.h>

typedef struct decode_floor {
	uint64_t events;    /**< events in the frames decompressed */
	uint64_t frames;
	uint64_t raw_bytes; /**< payload bytes after decompression */
	uint64_t disk_bytes; /**< segment bytes read */
	double cpu_s;       /**< this thread's CPU time for one pass */
} decode_floor;

/**
 * Measure jdir's journal (its segments, whole, in order), passes times
 * (at least 1): the figures of the pass that took the least CPU time.
 * @return 0, or -1 with a message on stderr (a segment that cannot be
 *         read, a frame that does not parse, check or decompress).
 */
int decode_floor_measure(const char *jdir, int passes, decode_floor *out);

#endif
