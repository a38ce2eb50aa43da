/*
 * The journal's on-disk format, version 1. All integers little-endian;
 * "varint" is LEB128 (7 bits a byte, low first, at most 10 bytes).
 *
 * Segment file  <dir>/<first seq, 20 digits>.wfj
 *
 *   segment header, 64 bytes:
 *     0  magic            8   "WFLOWJNL"
 *     8  version          u32 1
 *    12  header size      u32 64
 *    16  compat flags     u64 unknown bits are ignored
 *    24  incompat flags   u64 any unknown bit refuses the open
 *    32  journal id       u64 random, same in every segment; checksum seed
 *    40  first seq        u64 sequence number of the segment's first event
 *    48  prev chain       u64 checksum of the previous segment's last frame
 *                             (0 for the first segment)
 *    56  header checksum  u64 XXH3-64 (seed 0) of bytes 0..55
 *
 *   frames, back to back, one per commit:
 *     0  sync marker      4   F7 57 46 4A
 *     4  checksum         u64 XXH3-64, seed = journal id, of every byte from
 *                             offset 12 to the end of the payload
 *    12  flags            u8  bit 0: payload is zstd; bit 1: the payload
 *                             starts a new zstd stream (reset)
 *        comp length      varint  payload bytes on disk
 *        raw length       varint  payload bytes after decompression
 *        event count      varint  >= 1
 *        first seq        varint
 *        prev link        u32 low 32 bits of the previous frame's checksum
 *                             (of the segment header's prev chain for the
 *                             first frame of a segment)
 *        payload          comp length bytes
 *
 * The chain: each frame names its predecessor (prev link) under its own
 * checksum, and each segment names the last frame of the one before (prev
 * chain). A missing, reordered or replayed frame or segment breaks the
 * chain or the sequence numbers, and is reported where it breaks. A frame's
 * checksum does not depend on the frames before it, so a damaged range can
 * be skipped (salvage) and the next intact frame still recognised.
 *
 * Compression: the frames of a segment form zstd streams; each frame is
 * flushed (ZSTD_e_flush), so it decodes as soon as it is read, with the
 * history of the frames before it in the same stream as its dictionary.
 * That is what keeps one-event frames small. A stream is reset (flag bit 1)
 * at the start of each segment, at each open of the writer, and every
 * WF_RESET_INTERVAL raw bytes, so a reader can start at a reset frame.
 *
 * Event (in the decompressed payload, back to back, count of them):
 *     type        varint  u16, bit 15 = WF_EVENT_SAFE_IGNORE
 *     time delta  varint  zigzag(time_ns - previous event's time_ns); the
 *                         first event of a frame is relative to 0
 *     body length varint
 *     body: fields, each: kind u8, then
 *           UINT: varint;  INT: varint zigzag;
 *           TEXT, JSON: varint length, bytes
 * Sequence numbers are not stored per event: event i of a frame has
 * first seq + i.
 */
/*
 * LOCK  <dir>/LOCK, the writer's lock file: empty, or a sync mark (40
 * bytes, rewritten in place after each fdatasync of the last segment):
 *     0  magic            8   "WFSYNCMK"
 *     8  journal id       u64
 *    16  segment          u64 first seq of the segment it is about
 *    24  durable end      u64 that segment's bytes known synced
 *    32  checksum         u64 XXH3-64 (seed 0) of bytes 0..31
 * Damage in the last segment with intact frames after it is corruption
 * when the mark says the damaged bytes were synced (or when there is no
 * mark at all: an older journal, a copy without LOCK); otherwise it is a
 * crash's out-of-order writes of unsynced frames, a torn tail, cut in
 * tolerate-tail mode. The writer syncs a first mark when it finds none of
 * its journal's; later rewrites are not synced: a crash leaves the mark
 * current, older or damaged, and each of those only makes recovery more
 * lenient, never stricter.
 */
#ifndef WF_JOURNAL_FORMAT_H
#define WF_JOURNAL_FORMAT_H

#include <stdint.h>

#define WF_SEG_MAGIC "WFLOWJNL"
#define WF_SYNC_MARK_MAGIC "WFSYNCMK"
#define WF_SEG_VERSION 1u
#define WF_SEG_HEADER_SIZE 64u
#define WF_SEG_SUFFIX ".wfj"
#define WF_SEG_NAME_DIGITS 20

/** Incompat feature bits this version understands (none yet). */
#define WF_SEG_INCOMPAT_KNOWN 0ull

#define WF_FRAME_MAGIC0 0xF7
#define WF_FRAME_MAGIC1 0x57
#define WF_FRAME_MAGIC2 0x46
#define WF_FRAME_MAGIC3 0x4A

#define WF_FRAME_ZSTD 0x01u
#define WF_FRAME_RESET 0x02u
#define WF_FRAME_FLAGS_KNOWN (WF_FRAME_ZSTD | WF_FRAME_RESET)

/** Offset of the checksummed part of a frame. */
#define WF_FRAME_SUM_START 12u
/** Smallest and largest frame header. */
#define WF_FRAME_HDR_MIN (12u + 1u + 4u * 1u + 4u)
#define WF_FRAME_HDR_MAX (12u + 1u + 3u * 5u + 10u + 4u)

/** Largest raw payload a frame may declare (bounds every allocation). */
#define WF_FRAME_MAX_RAW ((uint64_t)256 << 20)
/** Largest event count a frame may declare. */
#define WF_FRAME_MAX_EVENTS ((uint64_t)1 << 24)

/** Sequence numbers are at least 1 and below this (a bound that no real
 * journal reaches, and that keeps seq + count from overflowing). */
#define WF_SEQ_LIMIT ((uint64_t)1 << 62)

/** Raw bytes after which the writer starts a new zstd stream. */
#define WF_RESET_INTERVAL ((uint64_t)1 << 20)

#endif
