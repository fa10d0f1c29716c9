/*
 * The embedded store: one SQLite file per machine, shared by every plugin process (one per pod
 * exec) and the admin CLI.
 *
 * The file format (the tables, the statements, the schema version) is schema.c's alone; this
 * file opens and closes a connection and says in words what a failure means. The reads are
 * read.c, the writer lock and the transactions txn.c (sqlite_int.h is their shared state).
 *
 * Per-open cost is what a CNI exec pays, so an open does the least it can: it opens the file,
 * sets the busy handler and synchronous, and reads user_version (schema.c writes the schema
 * into a new file, once).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "sqlite_int.h"

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

int bip__sq_map_rc(int rc)
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

int bip__sq_map_errno(int e)
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

/*
 * Why this process cannot write the store at path, in words for an error message; false (and
 * "") when nothing is wrong with the file system, the directory, the file or its -wal and -shm
 * (the cause is then elsewhere). Checked with this process's effective ids, as the kernel does.
 */
bool bip__sq_why_unwritable(const char *path, char *buf, size_t len)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char dir[PATH_MAX], f[PATH_MAX + 8];
	const char *slash = strrchr(path, '/');
	struct statvfs vfs;
	struct stat st;

	buf[0] = '\0';
	snprintf(dir, sizeof(dir), "%.*s",
		 !slash		 ? 1
		 : slash == path ? 1
				 : (int)(slash - path),
		 !slash ? "." : path);
	if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		snprintf(buf, len, "the file system holding '%s' is mounted read-only", dir);
		return true;
	}
	if (stat(dir, &st) == 0 && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
		snprintf(buf, len,
			 "directory '%s' (owner uid %u, mode %04o) is not writable by uid %u, and "
			 "SQLite makes the store's -wal and -shm files there",
			 dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
			 (unsigned)geteuid());
		return true;
	}
	for (size_t i = 0; i < sizeof(sfx) / sizeof(*sfx); i++) {
		snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
		if (stat(f, &st) == 0 && faccessat(AT_FDCWD, f, R_OK | W_OK, AT_EACCESS) != 0) {
			snprintf(buf, len,
				 "'%s' (owner uid %u, mode %04o) is not readable and writable by "
				 "uid %u",
				 f, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
				 (unsigned)geteuid());
			return true;
		}
	}
	return false;
}

/*
 * A failed SQLite call in store terms, and in words (s->errmsg, bip_store_errmsg) where an
 * operator must act: a damaged file (restore it), a full disk, a read-only file system, an I/O
 * error. A lost race or a busy store needs no words. The writer lock has its own (write_lock).
 */
int bip__sq_rc(struct sqlite_store *s, int rc)
{
	const char *path = sqlite3_db_filename(s->db, "main");
	char why[PATH_MAX + 160];
	int ret = bip__sq_map_rc(rc);

	if (ret == BIP_OK || s->errmsg[0])
		return ret;
	if ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN)
		rc = sqlite3_extended_errcode(s->db);
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		bip__store_seterr(
		    s->errmsg, sizeof(s->errmsg),
		    "store '%s' is damaged (%s): stop its writers and restore it from a backup, or "
		    "save what is readable with `sqlite3 '%s' .recover`; `blockipamctl ipam check` "
		    "runs SQLite's integrity check",
		    path, sqlite3_errstr(rc), path);
		break;
	case SQLITE_FULL:
		bip__store_seterr(
		    s->errmsg, sizeof(s->errmsg),
		    "the disk holding store '%s' is full: nothing was written; free space there",
		    path);
		break;
	case SQLITE_READONLY:
		bip__sq_why_unwritable(path, why, sizeof(why));
		if (why[0])
			bip__store_seterr(s->errmsg, sizeof(s->errmsg),
					  "store '%s' cannot be written (%s): %s", path,
					  sqlite3_errmsg(s->db), why);
		else
			bip__store_seterr(
			    s->errmsg, sizeof(s->errmsg),
			    "store '%s' cannot be written (%s): is its file system "
			    "mounted read-only, or its file or directory not writable?",
			    path, sqlite3_errmsg(s->db));
		break;
	case SQLITE_CANTOPEN:
		/* the -wal or -shm of another owner, a directory that is not writable */
		if (bip__sq_why_unwritable(path, why, sizeof(why))) {
			bip__store_seterr(s->errmsg, sizeof(s->errmsg), "store '%s': %s: %s", path,
					  sqlite3_errmsg(s->db), why);
			return BIP_EPERM;
		}
		/* fall through */
	case SQLITE_IOERR:
		bip__store_seterr(s->errmsg, sizeof(s->errmsg), "store '%s': %s (errno %d)", path,
				  sqlite3_errmsg(s->db), sqlite3_system_errno(s->db));
		break;
	default:
		break;
	}
	return ret;
}

/* The connection's store, where a failure needs its words (see describe()). */
static const char *sq_errmsg(struct bip_store *bs)
{
	return ((struct sqlite_store *)bs)->errmsg;
}

/*
 * PRAGMA integrity_check: the whole file's b-trees, free list and indexes. Reads only, in one
 * read transaction, so writers go on meanwhile.
 */
static int sq_verify(struct bip_store *bs)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	const char *path = sqlite3_db_filename(s->db, "main");
	sqlite3_stmt *st = NULL;
	char first[300] = "";
	int rc, n = 0, ret;

	s->errmsg[0] = '\0';
	if (s->no_schema)
		return BIP_OK;
	rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(20)", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);

		if (line && strcmp(line, "ok") != 0 && n++ == 0)
			snprintf(first, sizeof(first), "%s", line);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		ret = bip__sq_rc(s, rc);
		sq_errmsg(bs);
		goto out;
	}
	ret = BIP_OK;
	if (n == 0)
		goto out;
	ret = BIP_ECORRUPT;
	bip__store_seterr(
	    s->errmsg, sizeof(s->errmsg),
	    "store '%s' is damaged (integrity check: %s%s): stop its writers and restore it from "
	    "a backup, or save what is readable with `sqlite3 '%s' .recover`",
	    path, first, n > 1 ? ", and more" : "", path);
out:
	sqlite3_finalize(st);
	return ret;
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
    .get = bip__sq_get,
    .list = bip__sq_list,
    .txn = bip__sq_txn,
    .close = sq_close,
    .lock = bip__sq_lock,
    .read = bip__sq_read,
    .errmsg = sq_errmsg,
    .verify = sq_verify,
};

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

			bip__store_seterr(err, errlen, "cannot create store directory '%s': %s",
					  dir, strerror(e));
			return bip__sq_map_errno(e);
		}
	}
	if (stat(dir, &st) != 0) {
		int e = errno;

		bip__store_seterr(err, errlen, "store directory '%s': %s", dir, strerror(e));
		return bip__sq_map_errno(e);
	}
	if (!S_ISDIR(st.st_mode)) {
		bip__store_seterr(err, errlen, "store directory '%s' is not a directory", dir);
		return BIP_ENOTFOUND;
	}
	if (st.st_mode & S_IWOTH) {
		bip__store_seterr(
		    err, errlen,
		    "store directory '%s' is world-writable (mode %04o): refusing to use it", dir,
		    (unsigned)(st.st_mode & 07777));
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

		ret = bip__sq_map_errno(e);
		if (e == ENOENT)
			bip__store_seterr(err, errlen, "%s '%s' does not exist", what, path);
		else if (e == ELOOP)
			bip__store_seterr(err, errlen,
					  "%s '%s' is a symbolic link: refusing to follow it", what,
					  path);
		else if (e == EACCES || e == EPERM || e == EROFS) {
			char why[PATH_MAX + 160];

			bip__sq_why_unwritable(path, why, sizeof(why));
			bip__store_seterr(err, errlen, "cannot open %s '%s': %s%s%s", what, path,
					  strerror(e), why[0] ? ": " : "", why);
		} else
			bip__store_seterr(err, errlen, "cannot open %s '%s': %s", what, path,
					  strerror(e));
		goto out;
	}
	ret = BIP_EIO;
	if (fstat(fd, &st) != 0) {
		bip__store_seterr(err, errlen, "cannot stat %s '%s': %s", what, path,
				  strerror(errno));
		goto out;
	}
	ret = BIP_EINVAL;
	if (!S_ISREG(st.st_mode)) {
		bip__store_seterr(err, errlen, "%s '%s' is not a regular file", what, path);
		goto out;
	}
	ret = BIP_EPERM;
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		bip__store_seterr(
		    err, errlen,
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

/* The directory of path (and the path of its lock file), or BIP_EINVAL for a bad path. */
static int parse_path(const char *path, char *dir, char *lock, char *err, size_t errlen)
{
	const char *slash;

	if (!path || path[0] != '/') {
		bip__store_seterr(err, errlen,
				  "invalid sqlite store path '%s': it must be absolute",
				  path ? path : "");
		return BIP_EINVAL;
	}
	slash = strrchr(path, '/');
	if (slash[1] == '\0' || strlen(path) + sizeof(".lock") > PATH_MAX) {
		bip__store_seterr(err, errlen, "invalid sqlite store path '%s': want /dir/file.db",
				  path);
		return BIP_EINVAL;
	}
	snprintf(dir, PATH_MAX, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	snprintf(lock, PATH_MAX, "%s.lock", path);
	return BIP_OK;
}

/* Open the connection and configure it: the busy handler, defensive mode, synchronous. */
static int connect_db(struct sqlite_store *s, const char *path, char *err, size_t errlen)
{
	int rc;

	/* Read-only still opens read-write (no create, query_only): a SQLITE_OPEN_READONLY
	 * connection cannot remove the -wal and -shm files it makes, and would leave them. */
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
				 SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		char why[PATH_MAX + 160];

		bip__sq_why_unwritable(path, why, sizeof(why));
		bip__store_seterr(err, errlen, "cannot open store '%s': %s%s%s", path,
				  s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
				  why[0] ? ": " : "", why);
		return bip__sq_map_rc(rc);
	}
	sqlite3_busy_handler(s->db, bip__sq_busy_wait, s);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	rc = sqlite3_exec(s->db, SYNCHRONOUS_PRAGMA, NULL, NULL, NULL);
	if (rc == SQLITE_OK && s->read_only)
		rc = sqlite3_exec(s->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return bip__sq_read_failed(s, path, rc, err, errlen);
	return BIP_OK;
}

int bip_sqlite_open(const char *path, const struct bip_store_opts *opts, struct bip_store **out,
		    char *err, size_t errlen)
{
	static const struct bip_store_opts none;
	struct sqlite_store *s = NULL;
	char dir[PATH_MAX], lock[PATH_MAX];
	int fd = -1, ret;

	if (!opts)
		opts = &none;
	ret = parse_path(path, dir, lock, err, errlen);
	if (ret != BIP_OK)
		return ret;
	ret = check_dir(dir, !opts->read_only && strcmp(dir, BIP_STORE_DEFAULT_DIR) == 0, err,
			errlen);
	if (ret != BIP_OK)
		return ret;
	/* We create the file, not SQLite, to control its mode; SQLite gives the -wal and -shm
	 * files the mode of the database file. */
	ret = open_file(path, "store", !opts->read_only, &fd, err, errlen);
	if (ret != BIP_OK)
		return ret;
	close(fd);

	s = calloc(1, sizeof(*s));
	if (!s) {
		bip__store_seterr(err, errlen, "out of memory");
		return BIP_ENOMEM;
	}
	s->base.ops = &sqlite_ops;
	s->lock_fd = -1;
	s->read_only = opts->read_only;
	s->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	s->seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	ret = connect_db(s, path, err, errlen);
	if (ret == BIP_OK)
		ret = bip__sq_open_schema(s, path, err, errlen);
	if (ret == BIP_OK && !s->read_only)
		ret = open_file(lock, "store lock file", true, &s->lock_fd, err, errlen);
	if (ret != BIP_OK) {
		sq_close(&s->base);
		return ret;
	}
	/* Only now: a store refused above is closed the default way, leaving no -wal or -shm. */
	if (opts->short_lived) {
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_wal_hook(s->db, wal_hook, s);
	}
	*out = &s->base;
	return BIP_OK;
}
