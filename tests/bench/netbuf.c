#include "netbuf.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void nb_init(netbuf *nb, int fd)
{
    memset(nb, 0, sizeof(*nb));
    nb->fd = fd;
}

void nb_free(netbuf *nb)
{
    if (nb->fd >= 0) close(nb->fd);
    free(nb->in);
    free(nb->out);
    memset(nb, 0, sizeof(*nb));
    nb->fd = -1;
}

static void reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 65536;
    while (c < need)
        c *= 2;
    *buf = realloc(*buf, c);
    *cap = c;
}

int nb_fill(netbuf *nb)
{
    if (nb->in_off > 0 && nb->in_off == nb->in_len) {
        nb->in_off = nb->in_len = 0;
    } else if (nb->in_off > nb->in_cap / 2) {
        memmove(nb->in, nb->in + nb->in_off, nb->in_len - nb->in_off);
        nb->in_len -= nb->in_off;
        nb->in_off = 0;
    }
    reserve(&nb->in, &nb->in_cap, nb->in_len + 65536 + 1);
    struct pollfd p = {.fd = nb->fd, .events = POLLIN};
    int r;
    do {
        r = poll(&p, 1, NB_TIMEOUT_MS);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return -1;
    ssize_t n;
    do {
        n = read(nb->fd, nb->in + nb->in_len, nb->in_cap - nb->in_len - 1);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    nb->in_len += (size_t)n;
    return (int)(n > 0 ? 1 : 0);
}

char *nb_line(netbuf *nb)
{
    char *start = nb->in + nb->in_off;
    size_t avail = nb->in_len - nb->in_off;
    for (size_t i = 0; i + 1 < avail; i++)
        if (start[i] == '\r' && start[i + 1] == '\n') {
            start[i] = 0;
            nb->in_off += i + 2;
            return start;
        }
    return NULL;
}

char *nb_body(netbuf *nb, size_t n)
{
    if (nb->in_len - nb->in_off < n + 2) return NULL;
    char *p = nb->in + nb->in_off;
    nb->in_off += n + 2;
    return p;
}

size_t nb_mark(const netbuf *nb)
{
    return nb->in_off;
}

void nb_rewind(netbuf *nb, size_t mark)
{
    /* Lines were NUL-terminated in place: restore their CR. */
    for (size_t i = mark; i < nb->in_off; i++)
        if (nb->in[i] == 0 && i + 1 < nb->in_len && nb->in[i + 1] == '\n') nb->in[i] = '\r';
    nb->in_off = mark;
}

void nb_write(netbuf *nb, const void *p, size_t n)
{
    reserve(&nb->out, &nb->out_cap, nb->out_len + n);
    memcpy(nb->out + nb->out_len, p, n);
    nb->out_len += n;
}

void nb_printf(netbuf *nb, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0) nb_write(nb, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

int nb_flush(netbuf *nb)
{
    size_t off = 0;
    while (off < nb->out_len) {
        ssize_t n = send(nb->fd, nb->out + off, nb->out_len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    nb->out_len = 0;
    return 0;
}
