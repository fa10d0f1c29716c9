/*
 * The embedded store: one SQLite file per machine, shared by every plugin process (one per pod
 * exec) and the admin CLI.
 *
 * Schema (PRAGMA user_version 1, application_id 'bipa'):
 *   kv(key TEXT PRIMARY KEY, value BLOB, rev INTEGER) WITHOUT ROWID, meta(rev): the store
 *   revision. It starts at 1 and a txn that changes something moves it to rev + 1, which
 *   becomes the mod revision of every key the txn put. Keys compare with memcmp (BINARY), so
 *   the table order is key byte order. The key prefix of shared stores (opts->prefix) is not
 *   applied: the file is the namespace.
 *
 * Per-open cost is what a CNI exec pays, so an open does the least it can: it opens the file,
 * sets the busy handler and synchronous, and reads user_version. The schema (and the WAL
 * journal mode, which is persistent) is written once, by the first open of a new file.
 * Statements are prepared on first use.
 *
 * Write transactions are serialised across processes by an flock on "<db>.lock" (see
 * write_lock()); BEGIN IMMEDIATE keeps them correct without it. Readers (get, list) take no
 * lock: in WAL mode they read a snapshot and never block the writer, so a CLI scan of the
 * whole store does not stall pod starts.
 *
 * A handle is for one thread of one process: do not share it across threads or fork().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "blockipam/err.h"
#include "blockipam/store.h"

#define SCHEMA_VERSION 1
#define APPLICATION_ID 0x62697061 /* "bipa" */
#define DEFAULT_TIMEOUT_MS 5000

/*
 * Durability: synchronous=NORMAL. With WAL, NORMAL never corrupts the database and loses
 * nothing when a process crashes or is killed (SIGKILL, OOM): a commit is in the WAL, in the
 * page cache, before COMMIT returns. Only a power loss or kernel crash can roll back the last
 * commits, and that also kills every container on this machine, so no live pod can hold an
 * address whose allocation was rolled back; a rolled-back release only leaks an address until
 * gc. FULL adds an fsync to every commit, inside the write lock. Measured here: alone it costs
 * little per exec (open+get+txn+close median 1.22 ms vs 1.06-1.15 ms), but with 8 processes
 * doing that 250 times each the median went from 0.21 ms to 2.9-4.0 ms and the throughput
 * halved (1800-2000 vs 3900-4900 per s). The window NORMAL leaves open is the commits since the
 * last checkpoint: at most 64 WAL pages for the plugin (see "Checkpoints"), one process's work for
 * the CLI (its close checkpoints).
 */
#define SYNCHRONOUS_PRAGMA "PRAGMA synchronous=NORMAL"

/*
 * Checkpoints. By default the last connection to close checkpoints the WAL into the file and
 * removes -wal and -shm: 4 fdatasyncs and 2 unlinks (WAL header at the first commit into a new
 * WAL, its directory, WAL and database at the checkpoint), most of a plugin exec's store time
 * when every exec is the last connection. Long-lived handles (the CLI, a daemon linking the
 * library) keep that: the file alone is then the whole store once they are done.
 *
 * A short-lived handle (opts->short_lived: the plugin) does not checkpoint at close. Instead,
 * a commit that leaves SHORT_LIVED_CKPT_FRAMES or more pages in the WAL checkpoints it and
 * truncates it to zero bytes, still under the writer lock, without waiting for readers (one
 * reading an older snapshot turns it into a passive checkpoint, tried again at the next
 * commit). The WAL must be kept short this way: the first connection to open a store that no
 * process has open rebuilds the WAL index by reading the whole log, and SQLite never restarts
 * a log whose index was rebuilt, so a log left to the close-less default only grows (measured
 * here: 54 MB after 2,000 execs, ADD median 9.5 ms, 67 ms with a 64-page passive threshold).
 * With truncation every 64 pages an exec reads at most 256 KB of log, and pays the 3 syncs of a
 * checkpoint once per 10-20 commits. Measured here (bench_exec, 1,000 ADDs and DELs, same
 * run): see bench/RESULTS.md, "SQLite checkpoints".
 *
 * Durability is unchanged in kind: commits in the WAL survive any process crash, and only a
 * power loss or kernel crash can roll back the commits since the last checkpoint (see above
 * for why that cannot hand out an address twice). What changes is where recent commits live:
 * in -wal next to the file, so copy a store with `blockipamctl store migrate` or `get -o yaml`,
 * not with cp (any CLI command that closes last folds the WAL back in).
 */
#define SHORT_LIVED_CKPT_FRAMES 64

enum stmt_id {
	ST_GET,
	ST_REV,
	ST_LIST,
	ST_LIST_ALL,
	ST_LIST_KEYS,
	ST_LIST_KEYS_ALL,
	ST_PUT,
	ST_DEL,
	ST_SET_REV,
	ST_BEGIN_READ,
	ST_BEGIN_WRITE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
	[ST_GET] = "SELECT value, rev FROM kv WHERE key = ?1",
	[ST_REV] = "SELECT rev FROM meta WHERE id = 0",
	[ST_LIST] = "SELECT key, rev, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key",
	[ST_LIST_ALL] = "SELECT key, rev, value FROM kv WHERE key >= ?1 ORDER BY key",
	[ST_LIST_KEYS] = "SELECT key, rev FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key",
	[ST_LIST_KEYS_ALL] = "SELECT key, rev FROM kv WHERE key >= ?1 ORDER BY key",
	[ST_PUT] = ("INSERT INTO kv (key, value, rev) VALUES (?1, ?2, ?3) "
		    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, rev = excluded.rev"),
	[ST_DEL] = "DELETE FROM kv WHERE key = ?1",
	[ST_SET_REV] = "UPDATE meta SET rev = ?1 WHERE id = 0",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

static const char schema_sql[] =
	"CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL,"
	" rev INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0), rev INTEGER NOT NULL);"
	"INSERT INTO meta (id, rev) VALUES (0, 1);"
	"PRAGMA application_id = 1651077217;" /* APPLICATION_ID */
	"PRAGMA user_version = 1;";           /* SCHEMA_VERSION */

struct sqlite_store {
	struct bip_store base;
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	int lock_fd;
	int timeout_ms;
	bool read_only;
	bool no_wait; /* the busy handler gives up at once (a checkpoint that must not wait) */
	bool no_schema; /* read-only open of a file no writer has initialised: an empty store */
	bool in_list;
	bool session; /* the writer lock is held across calls (sq_lock) */
	unsigned seed;
	struct timespec busy_until;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return BIP_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return BIP_EAGAIN;
	case SQLITE_NOMEM:
		return BIP_ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return BIP_ECORRUPT;
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_READONLY:
		return BIP_EPERM;
	case SQLITE_TOOBIG:
		return BIP_EINVAL;
	default:
		return BIP_EIO;
	}
}

static int map_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return BIP_ENOTFOUND;
	case EACCES:
	case EPERM:
	case ELOOP:
	case EROFS:
		return BIP_EPERM;
	case ENOMEM:
		return BIP_ENOMEM;
	case EISDIR:
		return BIP_EINVAL;
	case EINTR:
	case EAGAIN:
		return BIP_EAGAIN;
	default:
		return BIP_EIO;
	}
}

static void ts_add_ms(struct timespec *t, int ms)
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
static bool backoff(struct sqlite_store *s, int n, const struct timespec *until)
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
static int busy_wait(void *arg, int n)
{
	struct sqlite_store *s = arg;

	if (s->no_wait)
		return 0;
	if (n == 0) {
		clock_gettime(CLOCK_MONOTONIC, &s->busy_until);
		ts_add_ms(&s->busy_until, s->timeout_ms);
	}
	return backoff(s, n, &s->busy_until);
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
 * The price: an flock wait cannot time out. Each holder's own waits are bounded (the busy
 * timeout) and the lock dies with its process, so a wait ends unless a holder is frozen
 * (SIGSTOP, cgroup freezer); then the runtime's CNI timeout ends the waiting plugins.
 */
static int write_lock(struct sqlite_store *s)
{
	while (flock(s->lock_fd, LOCK_EX) != 0)
		if (errno != EINTR)
			return map_errno(errno);
	return BIP_OK;
}

static void write_unlock(struct sqlite_store *s)
{
	flock(s->lock_fd, LOCK_UN);
}

static sqlite3_stmt *stmt(struct sqlite_store *s, enum stmt_id id, int *rc)
{
	if (!s->st[id]) {
		*rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					 &s->st[id], NULL);
		if (*rc != SQLITE_OK)
			return NULL;
	}
	*rc = SQLITE_OK;
	return s->st[id];
}

/* Run a statement that returns no rows. */
static int exec_stmt(struct sqlite_store *s, enum stmt_id id)
{
	int rc;
	sqlite3_stmt *st = stmt(s, id, &rc);

	if (!st)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void end_txn(struct sqlite_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		exec_stmt(s, ST_ROLLBACK);
}

static bool key_ok(const char *key)
{
	return key && *key && strnlen(key, BIP_KEY_MAX + 1) <= BIP_KEY_MAX;
}

/* The mod revision of key, 0 when absent. */
static int key_rev(struct sqlite_store *s, const char *key, int64_t *rev)
{
	int rc;
	sqlite3_stmt *st = stmt(s, ST_GET, &rc);

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

static int store_rev(struct sqlite_store *s, int64_t *rev)
{
	int rc;
	sqlite3_stmt *st = stmt(s, ST_REV, &rc);

	if (!st)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*rev = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_CORRUPT; /* the meta row is written with the schema */
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_get(struct bip_store *bs, const char *key, struct bip_kv *out)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	struct bip_kv kv = {0};
	sqlite3_stmt *st;
	const unsigned char *v;
	int rc, ret = BIP_EINVAL;

	if (!key_ok(key) || !out)
		goto out;
	ret = BIP_ENOTFOUND;
	if (s->no_schema)
		goto out;
	st = stmt(s, ST_GET, &rc);
	if (!st) {
		ret = map_rc(rc);
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ret = rc == SQLITE_DONE ? BIP_ENOTFOUND : map_rc(rc);
		goto reset;
	}
	/* A blob read as text gets a NUL terminator and keeps every byte (UTF-8 database). */
	v = sqlite3_column_text(st, 0);
	kv.len = (size_t)sqlite3_column_bytes(st, 0);
	kv.rev = sqlite3_column_int64(st, 1);
	kv.key = strdup(key);
	kv.value = malloc(kv.len + 1);
	ret = BIP_ENOMEM;
	if (!kv.key || !kv.value || (!v && kv.len)) {
		bip_kv_clear(&kv);
		goto reset;
	}
	if (kv.len)
		memcpy(kv.value, v, kv.len);
	kv.value[kv.len] = '\0';
	*out = kv;
	ret = BIP_OK;
reset:
	sqlite3_reset(st);
out:
	return ret;
}

/*
 * The smallest string greater than every string starting with prefix: strip trailing 0xff
 * bytes and add one to the last byte left. False when there is none (prefix empty or all
 * 0xff): the range is then unbounded above.
 */
static bool prefix_end(const char *prefix, char *end, size_t *len)
{
	size_t n = strlen(prefix);

	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0)
		return false;
	memcpy(end, prefix, n);
	end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
	*len = n;
	return true;
}

/* The rows of prefix, inside the caller's read transaction. */
static int list_rows(struct sqlite_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		     void *ctx)
{
	bool keys_only = flags & BIP_LIST_KEYS_ONLY;
	char end[BIP_KEY_MAX + 1];
	size_t end_len = 0;
	bool bounded = prefix_end(prefix, end, &end_len);
	sqlite3_stmt *st;
	int rc, ret;

	if (bounded)
		st = stmt(s, keys_only ? ST_LIST_KEYS : ST_LIST, &rc);
	else
		st = stmt(s, keys_only ? ST_LIST_KEYS_ALL : ST_LIST_ALL, &rc);
	if (!st)
		return map_rc(rc);
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	if (bounded)
		sqlite3_bind_text(st, 2, end, (int)end_len, SQLITE_STATIC);
	s->in_list = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bip_kv kv = {.value = (unsigned char *)""};
		int cb;

		kv.key = (char *)sqlite3_column_text(st, 0);
		kv.rev = sqlite3_column_int64(st, 1);
		if (!keys_only) {
			const unsigned char *v = sqlite3_column_text(st, 2);

			kv.len = (size_t)sqlite3_column_bytes(st, 2);
			if (v)
				kv.value = (unsigned char *)v;
			else if (kv.len)
				rc = SQLITE_NOMEM;
		}
		if (!kv.key)
			rc = SQLITE_NOMEM;
		if (rc == SQLITE_NOMEM)
			break;
		cb = fn(ctx, &kv);
		if (cb != 0) {
			ret = cb;
			goto done;
		}
	}
	ret = rc == SQLITE_DONE ? BIP_OK : map_rc(rc);
done:
	s->in_list = false;
	sqlite3_reset(st);
	return ret;
}

static int sq_list(struct bip_store *bs, const char *prefix, unsigned flags, bip_list_fn fn,
		   void *ctx, int64_t *rev)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	int64_t store;
	int rc, ret = BIP_EINVAL;

	if (!prefix)
		prefix = "";
	if (!fn || strnlen(prefix, BIP_KEY_MAX + 1) > BIP_KEY_MAX || s->in_list)
		return ret;
	if (s->no_schema) {
		if (rev)
			*rev = 1;
		return BIP_OK;
	}
	/* One read transaction: the revision and the rows come from the same snapshot. */
	rc = exec_stmt(s, ST_BEGIN_READ);
	if (rc == SQLITE_OK)
		rc = store_rev(s, &store);
	ret = map_rc(rc);
	if (ret == BIP_OK)
		ret = list_rows(s, prefix, flags, fn, ctx);
	if (ret == BIP_OK && rev)
		*rev = store;
	end_txn(s);
	return ret;
}

static int push_row(void *ctx, const struct bip_kv *kv)
{
	return bip_kvs_push(ctx, kv);
}

/*
 * The batch read in one read transaction: one snapshot, so no revision bracketing (the
 * generic fallback's), and one WAL read lock instead of one per statement.
 */
static int sq_read(struct bip_store *bs, const struct bip_read *reads, size_t n,
		   struct bip_kvs *out, int64_t *rev)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	int64_t store = 1;
	size_t i = 0;
	int rc, ret = BIP_EINVAL;

	for (size_t j = 0; j < n; j++)
		if (strnlen(reads[j].key, BIP_KEY_MAX + 1) > BIP_KEY_MAX ||
		    (!reads[j].prefix && !key_ok(reads[j].key)))
			return ret;
	if (s->in_list)
		return ret;
	if (!s->no_schema) {
		rc = exec_stmt(s, ST_BEGIN_READ);
		if (rc == SQLITE_OK)
			rc = store_rev(s, &store);
		if ((ret = map_rc(rc)) != BIP_OK)
			goto out;
	}
	for (ret = BIP_OK; i < n && ret == BIP_OK; i++) {
		struct bip_kv kv = {0};

		out[i] = (struct bip_kvs){0};
		if (s->no_schema)
			continue;
		if (reads[i].prefix) {
			ret = list_rows(s, reads[i].key, reads[i].flags, push_row, &out[i]);
			continue;
		}
		ret = sq_get(bs, reads[i].key, &kv);
		if (ret == BIP_ENOTFOUND) {
			ret = BIP_OK;
			continue;
		}
		if (ret == BIP_OK && (reads[i].flags & BIP_LIST_KEYS_ONLY)) {
			kv.value[0] = '\0';
			kv.len = 0;
		}
		if (ret == BIP_OK)
			ret = bip_kvs_push(&out[i], &kv);
		bip_kv_clear(&kv);
	}
out:
	end_txn(s);
	if (ret != BIP_OK) {
		while (i > 0)
			bip_kvs_free(&out[--i]);
		return ret;
	}
	for (i = 0; i < n; i++)
		out[i].rev = store;
	if (rev)
		*rev = store;
	return BIP_OK;
}

static int cmp_keyp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The whole request is checked before anything is locked or written. */
static int txn_check(const struct bip_cmp *cmps, size_t ncmp, const struct bip_op *ops,
		     size_t nop)
{
	const char **keys = NULL;
	int ret = BIP_EINVAL;

	if ((ncmp && !cmps) || (nop && !ops))
		goto out;
	for (size_t i = 0; i < ncmp; i++)
		if (!key_ok(cmps[i].key) || cmps[i].rev < 0)
			goto out;
	for (size_t i = 0; i < nop; i++) {
		if (!key_ok(ops[i].key))
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
	sqlite3_stmt *st = stmt(s, op->kind == BIP_OP_PUT ? ST_PUT : ST_DEL, &rc);

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

	rc = exec_stmt(s, ST_BEGIN_WRITE);
	if (rc != SQLITE_OK)
		goto out;
	for (size_t i = 0; i < ncmp; i++) {
		rc = key_rev(s, cmps[i].key, &have);
		if (rc != SQLITE_OK)
			goto out;
		if (have != cmps[i].rev) {
			end_txn(s);
			return BIP_ECONFLICT;
		}
	}
	rc = store_rev(s, &cur);
	for (size_t i = 0; i < nop && rc == SQLITE_OK; i++)
		rc = apply_op(s, &ops[i], cur + 1, &changed);
	if (rc == SQLITE_OK && changed) {
		sqlite3_stmt *st = stmt(s, ST_SET_REV, &rc);

		if (st) {
			sqlite3_bind_int64(st, 1, cur + 1);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
		}
	}
	if (rc == SQLITE_OK)
		rc = exec_stmt(s, ST_COMMIT);
	if (rc == SQLITE_OK && rev)
		*rev = changed ? cur + 1 : cur;
out:
	end_txn(s);
	return map_rc(rc);
}

static int sq_txn(struct bip_store *bs, const struct bip_cmp *cmps, size_t ncmp,
		  const struct bip_op *ops, size_t nop, int64_t *rev)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	int ret;

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
static int sq_lock(struct bip_store *bs, bool on)
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

static void sq_close(struct bip_store *bs)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;

	if (!s)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

/* After each commit of a short-lived handle, under the writer lock: see "Checkpoints". */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sqlite_store *s = arg;

	if (frames >= SHORT_LIVED_CKPT_FRAMES) {
		s->no_wait = true;
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		s->no_wait = false;
	}
	return SQLITE_OK;
}

static const struct bip_store_ops sqlite_ops = {
	.name = "sqlite",
	.get = sq_get,
	.list = sq_list,
	.txn = sq_txn,
	.close = sq_close,
	.lock = sq_lock,
	.read = sq_read,
};

/* What a file says it is: all read in one statement, so from one snapshot. */
struct ident {
	int64_t version; /* PRAGMA user_version: 0 before the schema is written */
	int64_t app;     /* PRAGMA application_id */
	int64_t tables;  /* rows in sqlite_schema */
};

static int read_ident(sqlite3 *db, struct ident *id)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db,
				"SELECT (SELECT user_version FROM pragma_user_version),"
				" (SELECT application_id FROM pragma_application_id),"
				" (SELECT count(*) FROM sqlite_schema)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id->version = sqlite3_column_int64(st, 0);
		id->app = sqlite3_column_int64(st, 1);
		id->tables = sqlite3_column_int64(st, 2);
		rc = SQLITE_OK;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Ours, or a new file: anything else is refused before a byte is written to it. */
static bool ident_ours(const struct ident *id)
{
	if (id->version == 0)
		return id->app == 0 && id->tables == 0;
	return id->app == APPLICATION_ID;
}

/*
 * Switch a new file to WAL; the mode is persistent in the file, so this runs once, not on
 * every open. The switch needs the file to itself and fails at once with SQLITE_BUSY, without
 * calling the busy handler, while other processes read it (they are opening it too): retry.
 */
static int set_wal(struct sqlite_store *s)
{
	sqlite3_stmt *st = NULL;
	struct timespec until;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &until);
	ts_add_ms(&until, s->timeout_ms);
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	for (int n = 0; rc == SQLITE_OK; n++) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(st, 0);

			rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
			break;
		}
		sqlite3_reset(st);
		if ((rc & 0xff) != SQLITE_BUSY || !backoff(s, n, &until))
			break;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Write the schema into a new file. Several processes may open a new file at once: the one
 * that gets the write lock first writes the schema, the others find it written.
 */
static int init_schema(struct sqlite_store *s, const char *path, char *err, size_t errlen)
{
	struct ident id;
	int rc, ret;

	rc = set_wal(s);
	if (rc != SQLITE_OK) {
		ret = map_rc(rc);
		seterr(err, errlen, "cannot switch store '%s' to WAL mode: %s", path,
		       rc == SQLITE_CANTOPEN ? "the journal mode did not change"
					     : sqlite3_errmsg(s->db));
		goto out;
	}
	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = read_ident(s->db, &id);
	if (rc == SQLITE_OK && id.version == 0 && ident_ours(&id))
		rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	ret = map_rc(rc);
	if (rc != SQLITE_OK)
		seterr(err, errlen, "cannot create the schema in store '%s': %s", path,
		       sqlite3_errmsg(s->db));
out:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

/*
 * The directory must exist and must not be world-writable: anyone who can create files there
 * can plant the -wal, -shm or lock file. The default directory is created (mode 0700) when
 * missing.
 */
static int check_dir(const char *dir, bool create, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) != 0 && errno == ENOENT && create) {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			int e = errno;

			seterr(err, errlen, "cannot create store directory '%s': %s", dir,
			       strerror(e));
			return map_errno(e);
		}
	}
	if (stat(dir, &st) != 0) {
		int e = errno;

		seterr(err, errlen, "store directory '%s': %s", dir, strerror(e));
		return map_errno(e);
	}
	if (!S_ISDIR(st.st_mode)) {
		seterr(err, errlen, "store directory '%s' is not a directory", dir);
		return BIP_ENOTFOUND;
	}
	if (st.st_mode & S_IWOTH) {
		seterr(err, errlen,
		       "store directory '%s' is world-writable (mode %04o): refusing to use it",
		       dir, (unsigned)(st.st_mode & 07777));
		return BIP_EPERM;
	}
	return BIP_OK;
}

/*
 * Open a file of the store and check its mode; with create, make it when missing, with mode
 * 0600 whatever the umask. Without, only read access is needed.
 */
static int open_file(const char *path, const char *what, bool create, int *fdp, char *err,
		     size_t errlen)
{
	int flags = O_CLOEXEC | O_NOFOLLOW | (create ? O_RDWR | O_CREAT : O_RDONLY);
	int fd = open(path, flags, 0600);
	struct stat st;
	int ret;

	if (fd < 0) {
		int e = errno;

		ret = map_errno(e);
		if (e == ENOENT)
			seterr(err, errlen, "%s '%s' does not exist", what, path);
		else if (e == ELOOP)
			seterr(err, errlen, "%s '%s' is a symbolic link: refusing to follow it",
			       what, path);
		else
			seterr(err, errlen, "cannot open %s '%s': %s", what, path, strerror(e));
		goto out;
	}
	ret = BIP_EIO;
	if (fstat(fd, &st) != 0) {
		seterr(err, errlen, "cannot stat %s '%s': %s", what, path, strerror(errno));
		goto out;
	}
	ret = BIP_EINVAL;
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s '%s' is not a regular file", what, path);
		goto out;
	}
	ret = BIP_EPERM;
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		seterr(err, errlen,
		       "%s '%s' is group- or world-writable (mode %04o): refusing to use it "
		       "(chmod 600 it)",
		       what, path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	*fdp = fd;
	fd = -1;
	ret = BIP_OK;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

int bip_sqlite_open(const char *path, const struct bip_store_opts *opts, struct bip_store **out,
		    char *err, size_t errlen)
{
	static const struct bip_store_opts none;
	struct sqlite_store *s = NULL;
	char dir[PATH_MAX], lock[PATH_MAX];
	const char *slash;
	struct ident id = {0};
	int fd = -1, rc, ret = BIP_EINVAL;

	if (!opts)
		opts = &none;
	if (!path || path[0] != '/') {
		seterr(err, errlen, "invalid sqlite store path '%s': it must be absolute",
		       path ? path : "");
		goto out;
	}
	slash = strrchr(path, '/');
	if (slash[1] == '\0' || strlen(path) + sizeof(".lock") > sizeof(lock)) {
		seterr(err, errlen, "invalid sqlite store path '%s': want /dir/file.db", path);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	snprintf(lock, sizeof(lock), "%s.lock", path);

	ret = check_dir(dir, !opts->read_only && strcmp(dir, BIP_STORE_DEFAULT_DIR) == 0, err,
			errlen);
	if (ret != BIP_OK)
		goto out;
	/* We create the file, not SQLite, to control its mode; SQLite gives the -wal and -shm
	 * files the mode of the database file. */
	ret = open_file(path, "store", !opts->read_only, &fd, err, errlen);
	if (ret != BIP_OK)
		goto out;
	close(fd);
	fd = -1;

	ret = BIP_ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s) {
		seterr(err, errlen, "out of memory");
		goto out;
	}
	s->base.ops = &sqlite_ops;
	s->lock_fd = -1;
	s->read_only = opts->read_only;
	s->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	s->seed = (unsigned)getpid() ^ (unsigned)time(NULL);

	/* Read-only still opens read-write (no create, query_only): a SQLITE_OPEN_READONLY
	 * connection cannot remove the -wal and -shm files it makes, and would leave them. */
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		ret = map_rc(rc);
		seterr(err, errlen, "cannot open store '%s': %s", path,
		       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_handler(s->db, busy_wait, s);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	rc = sqlite3_exec(s->db, SYNCHRONOUS_PRAGMA, NULL, NULL, NULL);
	if (rc == SQLITE_OK && s->read_only)
		rc = sqlite3_exec(s->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = read_ident(s->db, &id);
	if (rc == SQLITE_OK && id.version == 0 && ident_ours(&id) && !s->read_only) {
		ret = init_schema(s, path, err, errlen);
		if (ret != BIP_OK)
			goto out;
		rc = read_ident(s->db, &id);
	}
	if (rc != SQLITE_OK) {
		ret = map_rc(rc);
		if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
			seterr(err, errlen, "store '%s' is not a SQLite database or is corrupt: %s",
			       path, sqlite3_errmsg(s->db));
		else
			seterr(err, errlen, "cannot read store '%s': %s", path,
			       sqlite3_errmsg(s->db));
		goto out;
	}
	ret = BIP_ECORRUPT;
	if (!ident_ours(&id)) {
		seterr(err, errlen,
		       "store '%s' is a SQLite database but not a blockipam store "
		       "(application_id %lld, user_version %lld, %lld tables)",
		       path, (long long)id.app, (long long)id.version, (long long)id.tables);
		goto out;
	}
	ret = BIP_ESCHEMA;
	if (id.version > SCHEMA_VERSION) {
		seterr(err, errlen,
		       "store '%s' has schema version %lld, newer than this program's (%d): "
		       "upgrade blockipam",
		       path, (long long)id.version, SCHEMA_VERSION);
		goto out;
	}
	/* Only a read-only open sees a new file without the schema: it reads as empty. */
	s->no_schema = id.version == 0;
	if (!s->read_only) {
		ret = open_file(lock, "store lock file", true, &s->lock_fd, err, errlen);
		if (ret != BIP_OK)
			goto out;
	}
	/* Only now: a store refused above is closed the default way, leaving no -wal or -shm. */
	if (opts->short_lived) {
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_wal_hook(s->db, wal_hook, s);
	}
	*out = &s->base;
	s = NULL;
	ret = BIP_OK;
out:
	if (fd >= 0)
		close(fd);
	if (s)
		sq_close(&s->base);
	return ret;
}
