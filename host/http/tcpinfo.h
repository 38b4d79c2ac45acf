/*
 * tcpinfo.h - what the kernel knows of a TCP connection that the server
 * does not see itself (libmicrohttpd reads the socket). Apart because the
 * kernel's struct tcp_info (linux/tcp.h) clashes with libc's
 * (netinet/tcp.h), which libmicrohttpd's header brings in.
 */
#ifndef AH_HTTP_TCPINFO_H
#define AH_HTTP_TCPINFO_H

#include <stdint.h>

#define TCPINFO_UNKNOWN UINT64_MAX

/* The bytes the connection fd has received so far (TCP_INFO's
 * tcpi_bytes_received, Linux 4.1+), or TCPINFO_UNKNOWN. */
uint64_t tcpinfo_bytes_received(int fd);

#endif
