/*
 * wflow: durable workflows for C programs, event-sourced.
 *
 * This header is the public API of libwflow. What is not declared here is
 * not API: the journal (journal/), the fold (replay/) and the engine
 * internals may change between releases without notice.
 *
 * Conventions (see STYLE.md):
 *  - functions return int: 0 on success, a negative WF_E* code on failure;
 *  - out parameters come first and are owned by the caller unless the
 *    comment says "borrowed";
 *  - every _free / _close accepts NULL;
 *  - the library never prints, never exits and never aborts on bad input.
 */
#ifndef WFLOW_H
#define WFLOW_H

#ifdef __cplusplus
extern "C" {
#endif

/* Public symbols are exported from the shared library; nothing else is. */
#if defined(__GNUC__)
#define WF_EXPORT __attribute__((visibility("default")))
#else
#define WF_EXPORT
#endif

/** Version of this header and of the library it came with. */
#define WF_VERSION_MAJOR 0
#define WF_VERSION_MINOR 1
#define WF_VERSION_PATCH 0
#define WF_VERSION_STRING "0.1.0"

/**
 * Error codes. Every failing call returns one of these (always negative).
 * A handle-level message with the details (which id, which file, which
 * byte offset) is available from the handle's errmsg function.
 */
enum wf_error {
	WF_OK = 0,
	WF_EINVAL = -1,     /**< invalid argument (bad id, bad option, bad JSON) */
	WF_ENOMEM = -2,     /**< out of memory; nothing was recorded */
	WF_EIO = -3,        /**< an I/O call failed; or an earlier fsync failed and
	                         the journal refuses further commits (poisoned) */
	WF_ECORRUPT = -4,   /**< stored data failed a check (checksum, chain,
	                         sequence, decoding); the message names file and
	                         byte offset */
	WF_EBUSY = -5,      /**< another writer holds the journal's lock */
	WF_ENOTFOUND = -6,  /**< no such journal, workflow, step or file */
	WF_EINCOMPAT = -7,  /**< written by a newer wflow with features this one
	                         does not have (format version, feature flags) */
	WF_ECLOSED = -8,    /**< the handle is shutting down */
};

/**
 * Name of an error code, e.g. "WF_ECORRUPT: data failed an integrity check".
 * @param rc a WF_E* code (or 0).
 * @return a static string; never NULL, also for unknown codes.
 */
WF_EXPORT const char *wf_strerror(int rc);

/** @return the library's version string, e.g. "0.1.0" (static). */
WF_EXPORT const char *wf_version(void);

#ifdef __cplusplus
}
#endif

#endif /* WFLOW_H */
