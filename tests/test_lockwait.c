/*
 * The bounded node-lock wait (store/lock.c): a free lock is taken at once; a lock another
 * process holds ends the wait with BIP_EAGAIN at the deadline, not before, not much after; one
 * released during the wait is taken; other signals do not end the wait early; the caller's
 * SIGALRM action and signal mask are as they were afterwards, a blocked SIGALRM included.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../store/lock.h"
#include "blockipam/err.h"
#include "t.h"

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static char path[64];

static int open_lock(void)
{
	if (!path[0]) {
		snprintf(path, sizeof(path), "/tmp/bip-lockwait.XXXXXX");
		close(mkstemp(path));
	}
	return open(path, O_RDWR | O_CLOEXEC);
}

/* A child that holds the lock for hold_ms (forever when < 0) and then exits. */
static pid_t holder(int hold_ms)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int fd = open_lock();

		flock(fd, LOCK_EX);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		if (hold_ms < 0)
			for (;;)
				pause();
		usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		pid = -1;
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_free_lock(void)
{
	int fd = open_lock(), e;
	int64_t t0 = now_ms();
	struct sigaction sa;

	T_REQUIRE(fd >= 0);
	T_CHECK_INT(bip__lock_wait(fd, 1000, &e), BIP_OK);
	T_CHECK(now_ms() - t0 < 100, "took %lld ms", (long long)(now_ms() - t0));
	sigaction(SIGALRM, NULL, &sa);
	T_CHECK(sa.sa_handler == SIG_DFL, "SIGALRM's action changed");
	close(fd);
}

static void test_held_times_out(void)
{
	static const int budgets[] = {0, 50, 300, 1000};
	pid_t pid = holder(-1);

	T_REQUIRE(pid > 0);
	for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
		int fd = open_lock(), e;
		int64_t t0 = now_ms(), ms;
		struct sigaction sa;

		T_CHECK_INT(bip__lock_wait(fd, budgets[i], &e), BIP_EAGAIN);
		ms = now_ms() - t0;
		T_CHECK(ms >= budgets[i] && ms <= budgets[i] + 150, "budget %d ms: took %lld ms",
			budgets[i], (long long)ms);
		sigaction(SIGALRM, NULL, &sa);
		T_CHECK(sa.sa_handler == SIG_DFL, "SIGALRM's action not restored");
		close(fd);
	}
	reap(pid);
}

static void test_released_during_wait(void)
{
	pid_t pid = holder(200);
	int fd = open_lock(), e;
	int64_t t0 = now_ms(), ms;

	T_REQUIRE(pid > 0 && fd >= 0);
	T_CHECK_INT(bip__lock_wait(fd, 5000, &e), BIP_OK);
	ms = now_ms() - t0;
	T_CHECK(ms >= 100 && ms < 2000, "took %lld ms", (long long)ms);
	close(fd);
	reap(pid);
}

/* A child that takes its turn through bip__lock_wait (so it is counted), holds hold_ms, exits. */
static pid_t turn_taker(int hold_ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open_lock(), e;

		if (bip__lock_wait(fd, 10000, &e) != BIP_OK)
			_exit(1);
		usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	return pid;
}

/* Holders that come and go, each within the waiter's timeout but all together far longer: the
 * queue moves, so the waiter waits on and gets its turn (a frozen holder does not let go). */
static void test_moving_queue(void)
{
	pid_t a = holder(100), b[4];
	int fd = open_lock(), e;
	int64_t t0, ms;

	T_REQUIRE(a > 0 && fd >= 0);
	for (int i = 0; i < 4; i++)
		b[i] = turn_taker(100);
	usleep(30000);
	t0 = now_ms();
	T_CHECK_INT(bip__lock_wait(fd, 150, &e), BIP_OK);
	ms = now_ms() - t0;
	T_CHECK(ms < 3000, "took %lld ms", (long long)ms);
	close(fd);
	reap(a);
	for (int i = 0; i < 4; i++)
		reap(b[i]);
}

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

/* SIGUSR1 every 20 ms (without SA_RESTART, so each one ends the flock) must not end the wait. */
static void test_other_signals(void)
{
	struct sigaction sa = {.sa_handler = on_usr1}, old;
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	struct itimerspec its = {.it_value = {0, 20000000}, .it_interval = {0, 20000000}};
	timer_t tm;
	pid_t pid = holder(-1);
	int fd = open_lock(), e;
	int64_t t0, ms;

	T_REQUIRE(pid > 0 && fd >= 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, &old);
	T_REQUIRE(timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0);
	timer_settime(tm, 0, &its, NULL);
	t0 = now_ms();
	T_CHECK_INT(bip__lock_wait(fd, 400, &e), BIP_EAGAIN);
	ms = now_ms() - t0;
	timer_delete(tm);
	sigaction(SIGUSR1, &old, NULL);
	T_CHECK(ms >= 400 && ms <= 550, "took %lld ms", (long long)ms);
	T_CHECK(usr1 >= 10, "only %d SIGUSR1 seen", (int)usr1);
	close(fd);
	reap(pid);
}

/* A caller that blocks SIGALRM and has a handler of its own: both are as they were after. */
static void test_caller_state_kept(void)
{
	struct sigaction sa = {.sa_handler = on_usr1}, got, old;
	sigset_t set, mask;
	pid_t pid = holder(-1);
	int fd = open_lock(), e;

	T_REQUIRE(pid > 0 && fd >= 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	T_CHECK_INT(bip__lock_wait(fd, 100, &e), BIP_EAGAIN);
	sigaction(SIGALRM, NULL, &got);
	T_CHECK(got.sa_handler == on_usr1, "the caller's SIGALRM handler was not restored");
	sigprocmask(SIG_BLOCK, NULL, &mask);
	T_CHECK(sigismember(&mask, SIGALRM), "SIGALRM no longer blocked");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	sigaction(SIGALRM, &old, NULL);
	close(fd);
	reap(pid);
	unlink(path);
}

T_MAIN(T(test_free_lock), T(test_held_times_out), T(test_released_during_wait),
       T(test_moving_queue), T(test_other_signals), T(test_caller_state_kept))
