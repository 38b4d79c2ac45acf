/*
 * store_guard.h - name the database a crash was reading.
 *
 * LMDB keeps no page checksums: a damaged page can send a read into
 * unmapped memory (SIGSEGV), and a file cut short under a running host
 * makes the next read of a missing page fault with SIGBUS. With the guard
 * installed, such a fault in a thread that is inside the store (store_dbi
 * marks the database each access is about to use) writes one line to
 * stderr naming the database and the file and saying what to do (stop the
 * host, `agenthost check`, restore a backup), then takes its course: the
 * handler that was there before runs (a sanitizer's report), or the
 * default action (the process dies of the signal). Faults outside the
 * store pass through untouched. The handler uses write(2) only.
 */
#ifndef AH_STORE_GUARD_H
#define AH_STORE_GUARD_H

/* Install the SIGSEGV and SIGBUS handler for the store in data directory
 * dir (the message names dir/data.mdb). Once per process; a later call
 * changes only the directory named. 0, or AH_EINVAL when dir is too long. */
int store_guard_install(const char *dir);

/* This thread is about to use database `name` (a string that lives as
 * long as the process), or leaves the store (NULL). */
void store_guard_mark(const char *name);

#endif
