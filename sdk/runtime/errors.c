#include <agenthost/plugin.h>

const char *ah_strerror(int code)
{
    switch (code) {
    case AH_OK:
        return "success";
    case AH_EINVAL:
        return "invalid argument";
    case AH_ENOMEM:
        return "out of memory";
    case AH_ENOTFOUND:
        return "not found";
    case AH_EDENIED:
        return "refused by policy";
    case AH_ETOOBIG:
        return "over a size limit";
    case AH_ETIMEDOUT:
        return "timed out";
    case AH_EIO:
        return "input/output error";
    case AH_EBUSY:
        return "too many requests in flight";
    case AH_ENOSPC:
        return "store full";
    case AH_ECLOSED:
        return "shutting down";
    case AH_EPROTO:
        return "protocol error";
    case AH_EUNSUPPORTED:
        return "not supported by this host";
    case AH_ECONFLICT:
        return "revision conflict";
    case AH_EEXIST:
        return "already exists";
    default:
        return "unknown error";
    }
}
