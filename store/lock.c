/*
 * A blocking flock with a deadline: the node lock of both backends (SQLite's writer lock on
 * "<db>.lock", etcd's per-node lock under /run/blockipam).
 *
 * Why blocking: a blocking flock waits in the kernel and is handed over at the holder's unlock,
 * so the processes of a node take turns; polling with LOCK_NB lets a newcomer beat a process that
 * has waited long (store/sqlite/txn.c, write_lock(), has the figures). Why a deadline: a
 * holder that is frozen (SIGSTOP, the cgroup freezer, stuck in uninterruptible I/O) keeps the
 * lock as long as it is frozen, and without a bound every ADD of the node waited with it, each
 * retry of the runtime too (kubelet allows 4 minutes).
 *
 * How: flock has no timeout, so a per-thread POSIX timer (timer_create, SIGEV_THREAD_ID, on
 * CLOCK_MONOTONIC) sends SIGALRM to the waiting thread at the deadline; the handler does nothing
 * and is installed without SA_RESTART, so the signal ends the flock with EINTR. The timer then
 * repeats every TICK_MS: a signal that lands just before the thread enters flock is not lost for
 * good, the next one ends the wait. Any EINTR before the deadline (another signal) waits again.
 * F_OFD_SETLKW would need the same timer, and would not conflict with the flocks that older
 * binaries take on the same file during an upgrade: flock stays.
 *
 * Frozen, not merely slow. A holder that is alive but slow (a loaded machine, an etcd call that
 * waits for an election) hands the lock on within its own bounded calls, and the processes
 * queued behind it must not give up only because the queue is long: every holder that waited
 * counts its turn in the lock file's first 8 bytes (pwrite, no fsync: a count, not data). At the
 * deadline a waiter reads the count: if it moved since the wait began, the queue is moving and the
 * wait goes on for another timeout_ms (at most MAX_ROUNDS times, so every wait stays bounded); if
 * it did not move, the holder has not let go for timeout_ms, and the wait ends with BIP_EAGAIN.
 * Measured here before the count: at a load average of 24 on 2 vCPUs, 52 of 10,048 ADDs of
 * tests/etcd_nodes.sh (4 processes per node) gave up behind live holders.
 *
 * The price, for a library: while it waits, the thread has SIGALRM unblocked and handled here;
 * the previous action and mask are put back before it returns. An application that uses SIGALRM
 * itself (alarm(), setitimer) would lose a signal that fires during a lock wait. The plugin and
 * the CLI do not.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "blockipam/err.h"
#include "lock.h"

#define TICK_MS 5
#define MAX_ROUNDS 8

static void on_alarm(int sig)
{
	(void)sig;
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct timespec ms_ts(int ms)
{
	return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
}

/* The number of turns taken on the lock (0 for a new or unreadable file). */
static uint64_t turns(int fd)
{
	uint64_t n = 0;

	return pread(fd, &n, sizeof(n), 0) == (ssize_t)sizeof(n) ? n : 0;
}

/* Count our turn: we hold the lock, so no other holder writes meanwhile. Best effort. */
static int took(int fd)
{
	uint64_t n = turns(fd) + 1;

	if (pwrite(fd, &n, sizeof(n), 0) != (ssize_t)sizeof(n)) {
		/* A read-only or full lock file: the waits still end, only without the count. */
	}
	return BIP_OK;
}

int bip__lock_wait(int fd, int timeout_ms, int *sys_errno)
{
	struct sigaction sa = {.sa_handler = on_alarm}, old_sa;
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM};
	struct itimerspec its = {.it_interval = ms_ts(TICK_MS)};
	sigset_t alrm, old_mask;
	timer_t timer;
	int64_t deadline;
	uint64_t seen;
	int ret = BIP_EIO, rounds = 1;

	*sys_errno = 0;
	/* Free: no timer, no signal, no count (the common case costs one syscall, and leaves the
	 * lock file as it was). Only turns taken from the queue are counted: while anyone waits
	 * the lock is held, so the turns a waiter needs to see are all taken that way. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return BIP_OK;
	if (errno != EWOULDBLOCK && errno != EINTR) {
		*sys_errno = errno;
		return BIP_EIO;
	}
	if (timeout_ms <= 0)
		return BIP_EAGAIN;
	deadline = mono_ms() + timeout_ms;
	seen = turns(fd);
	its.it_value = ms_ts(timeout_ms);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the signal must end the flock */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sev.sigev_value.sival_ptr = NULL;
	sev._sigev_un._tid = gettid();
	if (sigaction(SIGALRM, &sa, &old_sa) != 0) {
		*sys_errno = errno;
		return BIP_EIO;
	}
	pthread_sigmask(SIG_UNBLOCK, &alrm, &old_mask);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
		*sys_errno = errno;
		goto out_sig;
	}
	if (timer_settime(timer, 0, &its, NULL) != 0) {
		*sys_errno = errno;
		goto out_timer;
	}
	for (;;) {
		uint64_t now_turns;

		if (flock(fd, LOCK_EX) == 0) {
			ret = took(fd);
			break;
		}
		if (errno != EINTR) {
			*sys_errno = errno;
			break;
		}
		if (mono_ms() < deadline)
			continue;
		now_turns = turns(fd);
		if (now_turns == seen || rounds >= MAX_ROUNDS) {
			ret = BIP_EAGAIN;
			break;
		}
		/* The queue moved: wait another round, the timer armed afresh. */
		seen = now_turns;
		rounds++;
		deadline = mono_ms() + timeout_ms;
		if (timer_settime(timer, 0, &its, NULL) != 0) {
			*sys_errno = errno;
			break;
		}
	}
out_timer:
	/* After timer_delete no signal of ours can be generated, and one generated before was
	 * delivered (it is unblocked) at the latest on the way out of that syscall. */
	timer_delete(timer);
out_sig:
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	return ret;
}
