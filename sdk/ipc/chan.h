/*
 * chan.h - sending and receiving frames on a SOCK_SEQPACKET socket.
 * Internal to agenthost; used by the host and by the plugin runtime.
 */
#ifndef AH_IPC_CHAN_H
#define AH_IPC_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Receive one datagram into buf (AH_FRAME_MAX bytes).
 * Returns the byte count (> 0), 0 when the peer closed, -1 with errno set
 * (EAGAIN when nothing is waiting), or -2 for a violation with *why set:
 * a truncated datagram, truncated control data, or any passed file
 * descriptor (which is closed before returning). */
ssize_t ah_chan_recv(int fd, uint8_t *buf, const char **why);

/* Send one frame. flags are passed to send(2) with MSG_NOSIGNAL added.
 * Returns 0, or -1 with errno set. */
int ah_chan_send(int fd, const void *frame, size_t len, int flags);

#endif
