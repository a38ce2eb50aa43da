/*
 * A deterministic generator of a realistic engine event stream, for the
 * benchmarks and `wflow-bench gen`: what an engine with a few workers
 * writes while running many small workflows (orders, ETL jobs, training
 * runs, virtual actors, reports), interleaved, with their metadata, DAGs,
 * outputs, retries, failures, resumes and continuations. Event types and
 * fields are those of replay/events.h.
 *
 * The same seed gives the same stream, byte for byte, on every machine.
 */
#ifndef WF_BENCH_SYNTH_H
#define WF_BENCH_SYNTH_H

#include <stdint.h>

#include "journal/journal.h"

typedef struct wf_synth wf_synth;

/**
 * @param out receives the generator; free with wf_synth_free.
 * @param seed any value; the stream is a function of it.
 * @return 0 or WF_ENOMEM.
 */
int wf_synth_new(wf_synth **out, uint64_t seed);

/**
 * The next event of the stream (the stream has no end).
 * @param ev receives the event: type, time_ns (> 0, non-decreasing) and
 *        fields; seq is 0. Text fields point into the generator's buffers,
 *        valid until the next call on s.
 * @return 0.
 */
int wf_synth_next(wf_synth *s, wf_event *ev);

/** NULL is fine. */
void wf_synth_free(wf_synth *s);

#endif
