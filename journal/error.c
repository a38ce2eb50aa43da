/* Names of the error codes (wflow.h) and the library version. */
#include "wflow.h"

const char *wf_strerror(int rc)
{
	switch (rc) {
	case WF_OK:
		return "WF_OK: success";
	case WF_EINVAL:
		return "WF_EINVAL: invalid argument";
	case WF_ENOMEM:
		return "WF_ENOMEM: out of memory";
	case WF_EIO:
		return "WF_EIO: I/O error";
	case WF_ECORRUPT:
		return "WF_ECORRUPT: data failed an integrity check";
	case WF_EBUSY:
		return "WF_EBUSY: held by another writer";
	case WF_ENOTFOUND:
		return "WF_ENOTFOUND: not found";
	case WF_EINCOMPAT:
		return "WF_EINCOMPAT: written by a newer, incompatible version";
	case WF_ECLOSED:
		return "WF_ECLOSED: handle is closing";
	case WF_EFAILED:
		return "WF_EFAILED: the workflow failed";
	case WF_ECANCELED:
		return "WF_ECANCELED: the workflow was cancelled";
	default:
		return "unknown wflow error code";
	}
}

const char *wf_version(void)
{
	return WF_VERSION_STRING;
}
