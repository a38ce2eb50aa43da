/* The decompression floor of a journal (see floor.h). */
#include "bench/floor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal/format.h"
#include "journal/frame.h"
#include "journal/io.h"
#include "journal/segment.h"

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole file at path into *buf (grown as needed): its size, or -1. */
static long long slurp(const char *path, uint8_t **buf, size_t *cap)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	long long n = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		if ((size_t)n > *cap) {
			uint8_t *b = realloc(*buf, (size_t)n);
			if (!b) {
				fclose(f);
				return -1;
			}
			*buf = b;
			*cap = (size_t)n;
		}
		if (n && fread(*buf, 1, (size_t)n, f) != (size_t)n)
			n = -1;
	}
	fclose(f);
	return n;
}

/* One segment's frames: checked and decompressed. @return 0 or -1. */
static int segment(const char *path, const uint8_t *b, size_t n,
                   wf_decoder *dec, uint8_t **raw, size_t *rcap,
                   decode_floor *out)
{
	wf_seg_header sh;
	const char *why = "shorter than a segment header";
	if (n < WF_SEG_HEADER_SIZE || wf_seg_header_decode(b, &sh, &why) < 0) {
		fprintf(stderr, "wflow-bench: %s: %s\n", path, why);
		return -1;
	}
	size_t off = WF_SEG_HEADER_SIZE;
	while (off < n) {
		wf_frame_hdr h;
		why = "incomplete frame";
		if (wf_frame_parse(b + off, n - off, &h, &why) != 0 ||
		    h.comp_len > n - off - h.hdr_len) {
			fprintf(stderr, "wflow-bench: %s at offset %zu: %s\n",
			        path, off, why);
			return -1;
		}
		size_t len = h.hdr_len + (size_t)h.comp_len;
		if (wf_frame_checksum(b + off, len, sh.journal_id) != h.checksum) {
			fprintf(stderr, "wflow-bench: %s at offset %zu: bad "
			        "checksum\n", path, off);
			return -1;
		}
		if (h.raw_len > *rcap) {
			uint8_t *r = realloc(*raw, (size_t)h.raw_len);
			if (!r) {
				fprintf(stderr, "wflow-bench: out of memory\n");
				return -1;
			}
			*raw = r;
			*rcap = (size_t)h.raw_len;
		}
		if (wf_decoder_frame(dec, &h, b + off + h.hdr_len, *raw, &why) <
		    0) {
			fprintf(stderr, "wflow-bench: %s at offset %zu: %s\n",
			        path, off, why);
			return -1;
		}
		out->events += h.count;
		out->frames++;
		out->raw_bytes += h.raw_len;
		off += len;
	}
	out->disk_bytes += n;
	return 0;
}

int decode_floor_measure(const char *jdir, int passes, decode_floor *out)
{
	memset(out, 0, sizeof *out);
	wf_seg_list segs = {0};
	int errnum = 0;
	if (wf_seg_list_read(wf_io_posix(), jdir, &segs, &errnum) < 0) {
		fprintf(stderr, "wflow-bench: cannot list %s: %s\n", jdir,
		        errnum ? strerror(errnum) : "out of memory");
		return -1;
	}
	wf_decoder *dec = NULL;
	uint8_t *buf = NULL, *raw = NULL;
	size_t cap = 0, rcap = 0;
	int rc = wf_decoder_new(&dec) < 0 ? -1 : 0;
	/* The buffers and the decoder are kept from pass to pass: the
	 * first pass also pays for their pages, the best one does not. */
	for (int p = 0; rc == 0 && p < passes; p++) {
		decode_floor one = {0};
		double c0 = thread_cpu_s();
		for (size_t i = 0; rc == 0 && i < segs.n; i++) {
			long long n = slurp(segs.v[i].path, &buf, &cap);
			if (n < 0) {
				fprintf(stderr, "wflow-bench: cannot read %s: "
				        "%s\n", segs.v[i].path, strerror(errno));
				rc = -1;
			} else {
				rc = segment(segs.v[i].path, buf, (size_t)n, dec,
				             &raw, &rcap, &one);
			}
		}
		one.cpu_s = thread_cpu_s() - c0;
		if (p == 0 || one.cpu_s < out->cpu_s)
			*out = one;
	}
	wf_decoder_free(dec);
	free(buf);
	free(raw);
	wf_seg_list_free(&segs);
	return rc;
}
