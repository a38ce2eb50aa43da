/*
 * Snapshot files: the fold's state (wf_fold_save) as of a journal
 * position, so that an open replays only the journal after it.
 *
 * A snapshot is <dir>/<last seq, 20 digits>.wfs:
 *
 *   header, 64 bytes (integers little-endian):
 *     0  magic           8   "WFLOWSNP"
 *     8  version         u32 3 (1 and 2 are still read: see below)
 *    12  header size     u32 64
 *    16  journal id      u64 the journal it was folded from
 *    24  last seq        u64 the last event folded into it
 *    32  raw length      u64 the payload's length (wf_fold_save)
 *    40  stored length   u64 the bytes after the header
 *    48  directory sum   u64 XXH3-64, seed = journal id, of the directory
 *    56  header sum      u64 XXH3-64 (seed 0) of bytes 0..55
 *   directory, at 64:
 *     0  length          u64 of the directory, these 24 bytes included
 *     8  blocks          u32 nb
 *    12  prefix          u32 the payload header's length, record count
 *                            excluded
 *    16  records         u64 nrecs, one per workflow
 *    24  nb blocks of 48 bytes: file offset, stored length, raw length,
 *        XXH3-64 (seed = journal id) of the stored bytes, first record,
 *        record count (u64 each). Block 0 is the payload's header (no
 *        records); the others hold runs of whole records, in order.
 *    then nrecs u32: each record's wf_fold_id_hash.
 *    then nrecs u8: each record's status as journaled (wf_fwf.status;
 *        0xff: not known, a block copied from a version 2 snapshot).
 *   then the blocks, each one zstd frame.
 *
 * A whole restore decompresses every block (the payload again, byte for
 * byte); wflow meta, which folds one workflow, reads the directory, block
 * 0 and the blocks whose records' id hashes match (about 256 KiB), so its
 * cost does not grow with the number of workflows saved; a list of
 * workflows of some statuses (the RUNNING and RESUMABLE ones, say, for
 * wf_resume_all) reads the blocks whose records' statuses may match. Older
 * versions are still read, never written: 2 (no statuses: a list reads
 * every block) and 1 (the payload as one zstd frame after the header,
 * byte 48 its checksum).
 *
 * Written as a temporary file, fsynced, renamed into place, and the
 * directory fsynced; then the writer keeps it and the newest older one of
 * the same journal, and removes the others (older ones, and another
 * journal's: a journal reset under the same directory). The journal is never
 * touched here: a snapshot only saves replay time, and a damaged or foreign
 * one is skipped (reported) in favour of an older one or a full replay.
 * (Unless the engine's retention, wf_config.retention_s, deleted the
 * journal segments both kept snapshots cover: a full replay is then no
 * longer possible, and the open fails if neither snapshot is usable.)
 *
 * Every file operation goes through the wf_io table given (NULL: plain
 * POSIX), the journal's seam, so that tests can inject I/O errors here too.
 */
#ifndef WF_REPLAY_SNAPSHOT_H
#define WF_REPLAY_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "journal/io.h"
#include "replay/fold.h"

#define WF_SNAP_MAGIC "WFLOWSNP"
#define WF_SNAP_VERSION 3u
#define WF_SNAP_HEADER_SIZE 64u
#define WF_SNAP_DIR_FIXED 24u
#define WF_SNAP_DIR_BLOCK 48u
#define WF_SNAP_SUFFIX ".wfs"
/** Snapshots kept in a directory (the newest). */
#define WF_SNAP_KEEP 2

/**
 * Save f's state as a snapshot in dir (created if missing) for journal
 * journal_id, covering events up to wf_fold_last_seq(f), and prune the
 * directory (see above; WF_SNAP_KEEP in all). For the journal's writer.
 * @param bytes if not NULL, receives the file's size.
 * @return 0, WF_EIO (err: which file and why), WF_ENOMEM.
 */
int wf_snapshot_write(const wf_io *io, const char *dir, uint64_t journal_id,
                      wf_fold *f, uint64_t *bytes, char *err, size_t errlen);

/**
 * wf_snapshot_write in two halves, for a caller that takes the state
 * under its lock and writes it outside (the engine's snapshot thread).
 * Take: the state of f now (copy: a lazily restored fold's unread blocks
 * are to be copied as stored, fold.h wf_fold_save_unread; the job holds
 * the restored file meanwhile). The finished workflows' blocks are not
 * copied but pinned in f (fold.h wf_fold_save_recs): once the write is
 * done, call wf_snapshot_job_done under the lock, then free the job.
 * @return 0, WF_ENOMEM, or what wf_fold_save_recs returns.
 */
typedef struct wf_snapshot_job wf_snapshot_job;
int wf_snapshot_job_take(wf_fold *f, int copy, wf_snapshot_job **out);
/** Write: as wf_snapshot_write; WF_ECORRUPT if a block to copy turned
 *  out damaged (nothing written: take again without copy). */
int wf_snapshot_job_write(const wf_io *io, const char *dir,
                          uint64_t journal_id, const wf_snapshot_job *j,
                          uint64_t *bytes, char *err, size_t errlen);
/** Unpin what the job's take pinned in f (with f's lock held). */
void wf_snapshot_job_done(wf_fold *f, wf_snapshot_job *j);
void wf_snapshot_job_free(wf_snapshot_job *j);

/**
 * Restore the newest usable snapshot of dir into the new, empty fold *f:
 * one of journal journal_id whose last seq is below next_seq (the
 * journal still holds everything it covers). Snapshots that cannot be
 * used are skipped, and each is described in skipped (file: reason;
 * "; "-separated), which may be NULL.
 * @param f on success *f is the restored fold; on failure a new empty
 *        one (a failed restore's fold is freed).
 * @return 1 (restored: *seq is its last seq), 0 (none usable: *f empty),
 *         or WF_ENOMEM.
 */
int wf_snapshot_load(const wf_io *io, const char *dir, uint64_t journal_id,
                     uint64_t next_seq, wf_fold **f, uint64_t *seq,
                     char *skipped, size_t skippedlen);

/**
 * As wf_snapshot_load, for the journal's writer: a snapshot that covers
 * events beyond the journal's end (the journal lost them, or was cut by
 * hand) is also removed, since the journal may later grow past its
 * position with other events, and it would then look usable.
 */
int wf_snapshot_load_writer(const wf_io *io, const char *dir,
                            uint64_t journal_id, uint64_t next_seq,
                            wf_fold **f, uint64_t *seq, char *skipped,
                            size_t skippedlen);

/**
 * What retention may delete up to (wflow.h, wf_config.retention_s): the
 * last seq of the older of the WF_SNAP_KEEP newest snapshots of journal
 * journal_id in dir whose headers pass the checks a restore makes first
 * (whole, this journal's, a version this wflow reads), so that either
 * could still be used; 0 if there are fewer.
 * @return 0, WF_EIO (cannot list dir), WF_ENOMEM.
 */
int wf_snapshot_covered(const wf_io *io, const char *dir, uint64_t journal_id,
                        uint64_t *seq);

/**
 * Restore snapshots of at least min_stored stored bytes lazily (records
 * read when first asked for: fold.h, wf_fold_restore_lazy), and check
 * every block's checksum at the open only up to verify_upto stored bytes
 * (beyond, a block is checked when read, and rebuilt from the journal if
 * it is damaged); map directories of map_from bytes and more from the
 * file instead of reading them (POSIX I/O only). Defaults: 1 MiB, 64 MiB,
 * 256 KiB. Process-wide: for tests and benchmarks.
 */
void wf_snapshot_set_lazy(uint64_t min_stored, uint64_t verify_upto,
                          uint64_t map_from);

#endif
