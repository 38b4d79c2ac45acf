#include "chan.h"

#include "frame.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t ah_chan_recv(int fd, uint8_t *buf, const char **why)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 32)];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = AH_FRAME_MAX};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t n;
    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;

    int passed_fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfd; i++) {
                int rfd;
                memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                close(rfd);
            }
            passed_fds = 1;
        }
    }
    if (passed_fds || mh.msg_controllen > 0) {
        *why = "frame carried a file descriptor or other control data";
        return -2;
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        *why = "frame control data truncated";
        return -2;
    }
    if (mh.msg_flags & MSG_TRUNC) {
        *why = "frame larger than 64 KiB (truncated)";
        return -2;
    }
    return n;
}

int ah_chan_send(int fd, const void *frame, size_t len, int flags)
{
    ssize_t n;
    do {
        n = send(fd, frame, len, flags | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    if ((size_t)n != len) {
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}
