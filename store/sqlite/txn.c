/*
 * The writes of the embedded store: the busy handler, the writer lock and the transactions.
 *
 * Write transactions are serialised across processes by an flock on "<db>.lock" (see
 * write_lock()); BEGIN IMMEDIATE keeps them correct without it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include <sqlite3.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "sqlite_int.h"
#include "../lock.h"

void bip__sq_ts_add_ms(struct timespec *t, int ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static long ts_left_us(const struct timespec *until)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (until->tv_sec - now.tv_sec) * 1000000L + (until->tv_nsec - now.tv_nsec) / 1000;
}

/*
 * Sleep a short, jittered while before trying a lock again: half to all of 50 us doubling up
 * to 2 ms, never past the deadline. SQLite's own handler backs off to 100 ms sleeps, so the
 * process that has waited longest sleeps longest and loses to newcomers (see write_lock() for
 * the tails it gave here). Returns false when the deadline has passed.
 */
bool bip__sq_backoff(struct sqlite_store *s, int n, const struct timespec *until)
{
	long left = ts_left_us(until);
	long cap = n < 6 ? 50L << n : 2000L;
	long us = cap / 2 + (long)(rand_r(&s->seed) % (unsigned)(cap / 2 + 1));
	struct timespec d;

	if (left <= 0)
		return false;
	if (us > left)
		us = left;
	d.tv_sec = 0;
	d.tv_nsec = us * 1000L;
	nanosleep(&d, NULL);
	return true;
}

/* SQLite's busy handler: n counts the calls for this wait, 0 first. */
int bip__sq_busy_wait(void *arg, int n)
{
	struct sqlite_store *s = arg;

	if (s->no_wait)
		return 0;
	if (n == 0) {
		clock_gettime(CLOCK_MONOTONIC, &s->busy_until);
		bip__sq_ts_add_ms(&s->busy_until, s->timeout_ms);
	}
	return bip__sq_backoff(s, n, &s->busy_until);
}

/*
 * The cross-process write lock, held only from BEGIN IMMEDIATE to COMMIT. Without it, writers
 * meet on SQLite's WAL write lock, a non-blocking fcntl lock retried from the busy handler:
 * polling, so a newcomer often beats a process that has waited long. A blocking flock queues
 * in the kernel and hands over at once. Measured here, 8 processes each doing open, get,
 * create-if-absent and close 250 times: with synchronous=FULL (an fsync inside the lock) the
 * max latency was 20-32 ms with the blocking flock, 53-79 ms polling the flock, 63-76 ms with
 * the jittered busy handler alone and 430-530 ms with SQLite's own handler; with NORMAL all
 * but SQLite's handler (72-99 ms) gave 40-59 ms, the scheduling noise of 2 vCPUs.
 *
 * A frozen holder (SIGSTOP, the cgroup freezer, uninterruptible I/O) keeps the flock as long as
 * it is frozen, so the wait is bounded by the store's timeout (opts->timeout_ms, the plugin's
 * timeout_ms) and answers BIP_EAGAIN (CNI code 11) past it, naming the lock file; a queue of
 * live holders that moves meanwhile is waited through, a bounded number of rounds. The wait stays
 * a blocking flock, ended by a timer (store/lock.c says how), so it keeps the kernel's queue.
 */
static int write_lock(struct sqlite_store *s)
{
	int e, ret;

	s->errmsg[0] = '\0';
	ret = bip__lock_wait(s->lock_fd, s->timeout_ms, &e);
	if (ret == BIP_EAGAIN)
		bip__store_seterr(
		    s->errmsg, sizeof(s->errmsg),
		    "the store lock '%s.lock' was held by another process for over %d ms (a "
		    "stopped or stuck process of this machine?)",
		    sqlite3_db_filename(s->db, "main"), s->timeout_ms);
	else if (ret != BIP_OK) {
		ret = bip__sq_map_errno(e);
		bip__store_seterr(s->errmsg, sizeof(s->errmsg), "cannot lock '%s.lock': %s",
				  sqlite3_db_filename(s->db, "main"), strerror(e));
	}
	return ret;
}

static void write_unlock(struct sqlite_store *s)
{
	flock(s->lock_fd, LOCK_UN);
}

/* Run a statement that returns no rows. */
int bip__sq_exec(struct sqlite_store *s, enum stmt_id id)
{
	int rc;
	sqlite3_stmt *st = bip__sq_stmt(s, id, &rc);

	if (!st)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void bip__sq_end_txn(struct sqlite_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		bip__sq_exec(s, ST_ROLLBACK);
}

/* The mod revision of key, 0 when absent. */
static int key_rev(struct sqlite_store *s, const char *key, int64_t *rev)
{
	int rc;
	sqlite3_stmt *st = bip__sq_stmt(s, ST_GET, &rc);

	if (!st)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*rev = sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*rev = 0;
		rc = SQLITE_OK;
	}
	sqlite3_reset(st);
	return rc;
}

static int cmp_keyp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The whole request is checked before anything is locked or written. */
static int txn_check(const struct bip_cmp *cmps, size_t ncmp, const struct bip_op *ops, size_t nop)
{
	const char **keys = NULL;
	int ret = BIP_EINVAL;

	if ((ncmp && !cmps) || (nop && !ops))
		goto out;
	for (size_t i = 0; i < ncmp; i++)
		if (!bip__sq_key_ok(cmps[i].key) || cmps[i].rev < 0)
			goto out;
	for (size_t i = 0; i < nop; i++) {
		if (!bip__sq_key_ok(ops[i].key))
			goto out;
		if (ops[i].kind == BIP_OP_PUT) {
			if (ops[i].len > BIP_VALUE_MAX || (ops[i].len && !ops[i].value))
				goto out;
		} else if (ops[i].kind != BIP_OP_DEL) {
			goto out;
		}
	}
	if (nop > 1) {
		ret = BIP_ENOMEM;
		keys = malloc(nop * sizeof(*keys));
		if (!keys)
			goto out;
		for (size_t i = 0; i < nop; i++)
			keys[i] = ops[i].key;
		qsort(keys, nop, sizeof(*keys), cmp_keyp);
		ret = BIP_EINVAL;
		for (size_t i = 1; i < nop; i++)
			if (strcmp(keys[i - 1], keys[i]) == 0)
				goto out;
	}
	ret = BIP_OK;
out:
	free(keys);
	return ret;
}

static int apply_op(struct sqlite_store *s, const struct bip_op *op, int64_t rev, bool *changed)
{
	int rc;
	sqlite3_stmt *st = bip__sq_stmt(s, op->kind == BIP_OP_PUT ? ST_PUT : ST_DEL, &rc);

	if (!st)
		return rc;
	sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
	if (op->kind == BIP_OP_PUT) {
		/* A NULL pointer would bind SQL NULL: an empty value is a zero-length blob. */
		sqlite3_bind_blob64(st, 2, op->len ? op->value : "", op->len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, rev);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
		if (op->kind == BIP_OP_PUT || sqlite3_changes(s->db) > 0)
			*changed = true;
	}
	sqlite3_reset(st);
	return rc;
}

/* Under the write lock: check the compares, apply the ops, move the revision, commit. */
static int txn_locked(struct sqlite_store *s, const struct bip_cmp *cmps, size_t ncmp,
		      const struct bip_op *ops, size_t nop, int64_t *rev)
{
	bool changed = false;
	int64_t cur = 0, have = 0;
	int rc;

	rc = bip__sq_exec(s, ST_BEGIN_WRITE);
	if (rc != SQLITE_OK)
		goto out;
	for (size_t i = 0; i < ncmp; i++) {
		rc = key_rev(s, cmps[i].key, &have);
		if (rc != SQLITE_OK)
			goto out;
		if (have != cmps[i].rev) {
			bip__sq_end_txn(s);
			return BIP_ECONFLICT;
		}
	}
	rc = bip__sq_store_rev(s, &cur);
	for (size_t i = 0; i < nop && rc == SQLITE_OK; i++)
		rc = apply_op(s, &ops[i], cur + 1, &changed);
	if (rc == SQLITE_OK && changed) {
		sqlite3_stmt *st = bip__sq_stmt(s, ST_SET_REV, &rc);

		if (st) {
			sqlite3_bind_int64(st, 1, cur + 1);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
		}
	}
	if (rc == SQLITE_OK)
		rc = bip__sq_exec(s, ST_COMMIT);
	if (rc == SQLITE_OK && rev)
		*rev = changed ? cur + 1 : cur;
out:
	bip__sq_end_txn(s);
	return bip__sq_rc(s, rc);
}

int bip__sq_txn(struct bip_store *bs, const struct bip_cmp *cmps, size_t ncmp,
		const struct bip_op *ops, size_t nop, int64_t *rev)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	int ret;

	s->errmsg[0] = '\0';
	ret = txn_check(cmps, ncmp, ops, nop);
	if (ret != BIP_OK)
		goto out;
	ret = BIP_EPERM;
	if (s->read_only)
		goto out;
	ret = BIP_EINVAL;
	if (s->in_list) /* a txn from a list callback: the read transaction is still open */
		goto out;
	if (s->session)
		return txn_locked(s, cmps, ncmp, ops, nop, rev);
	ret = write_lock(s);
	if (ret != BIP_OK)
		goto out;
	ret = txn_locked(s, cmps, ncmp, ops, nop, rev);
	write_unlock(s);
out:
	return ret;
}

/*
 * Hold the writer lock across a caller's read-modify-write. Writers queue on the flock
 * anyway; holding it from the first read makes the caller's reads current and its compares
 * hold, so 32 plugin processes on one node take turns instead of 31 of them losing a race,
 * backing off and reading everything again.
 */
int bip__sq_lock(struct bip_store *bs, bool on)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	int ret;

	if (s->read_only || s->in_list)
		return BIP_OK;
	if (on == s->session)
		return BIP_OK;
	if (on) {
		ret = write_lock(s);
		if (ret != BIP_OK)
			return ret;
		s->session = true;
		return BIP_OK;
	}
	s->session = false;
	write_unlock(s);
	return BIP_OK;
}
