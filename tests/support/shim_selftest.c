/*
 * The negative control for syncshim: a program that answers "HTTP/1.1 200"
 * for a request whose nonce it wrote to data.mdb but had not yet synced,
 * then does it properly. Run with the shim preloaded, its log must show a
 * VIOLATION for the first and an ACK for the second.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    char path[512];
    snprintf(path, sizeof(path), "%s/data.mdb", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int sv[2];
    if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return 1;
    char page[4096], buf[256];
    const char *req1 = "POST /x HTTP/1.1\r\n\r\n{\"nonce\":\"nonce-000000000001\"}";
    const char *req2 = "POST /x HTTP/1.1\r\n\r\n{\"nonce\":\"nonce-000000000002\"}";
    const char *ok = "HTTP/1.1 201 Created\r\n\r\n";
    /* 1: data and meta written, answered before any sync. */
    send(sv[1], req1, strlen(req1), 0);
    recv(sv[0], buf, sizeof(buf), 0);
    memset(page, 0, sizeof(page));
    memcpy(page + 100, "nonce-000000000001", 18);
    pwrite(fd, page, sizeof(page), 8192);
    pwrite(fd, page, 64, 0); /* meta */
    send(sv[0], ok, strlen(ok), 0);
    fdatasync(fd);
    /* 2: as LMDB commits: data pages, sync, meta, sync, then answered. */
    send(sv[1], req2, strlen(req2), 0);
    recv(sv[0], buf, sizeof(buf), 0);
    memcpy(page + 100, "nonce-000000000002", 18);
    pwrite(fd, page, sizeof(page), 12288);
    fdatasync(fd);
    pwrite(fd, page, 64, 4096); /* meta */
    fdatasync(fd);
    send(sv[0], ok, strlen(ok), 0);
    close(fd);
    return 0;
}
