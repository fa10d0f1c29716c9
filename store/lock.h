/* The bounded node-lock wait shared by the sqlite and etcd backends (store/lock.c). */
#ifndef BIP_STORE_LOCK_H
#define BIP_STORE_LOCK_H

/*
 * Take an exclusive flock on fd, waiting at most timeout_ms in the kernel's queue. BIP_OK: held.
 * BIP_EAGAIN: still held by another process after timeout_ms (nothing taken). Another code:
 * flock itself failed (*sys_errno says why). Not async-signal-safe; borrows SIGALRM for the
 * calling thread while it waits (see lock.c).
 */
int bip__lock_wait(int fd, int timeout_ms, int *sys_errno);

#endif
