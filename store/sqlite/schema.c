/*
 * The file format of the embedded store, all of it in this file: the tables, the statements
 * that read and write them, the file's identity (application_id, user_version) and the schema
 * written into a new file. A change of the schema changes this file (and SCHEMA_VERSION).
 *
 * Schema 2 (PRAGMA user_version 2, application_id 'bipa'):
 *   kv(id INTEGER PRIMARY KEY, key TEXT UNIQUE, rev INTEGER, value BLOB), index kv_keys(key,
 *   rev), meta(rev): the store revision. It starts at 1 and a txn that changes something moves
 *   it to rev + 1, which becomes the mod revision of every key the txn put. Keys compare with
 *   memcmp (BINARY), so the index order is key byte order. The key prefix of shared stores
 *   (opts->prefix) is not applied: the file is the namespace.
 *
 *   Why a rowid table: schema 1 kept kv WITHOUT ROWID, so the b-tree keyed by key held the
 *   values too, and 5 KB block values filled its interior and leaf pages and overflowed: a list
 *   of only the block keys read every block's pages, and a lookup walked a deep tree of big
 *   rows. Now the values live in the table's leaf pages (and their overflow), the key lookup
 *   goes through the small UNIQUE index, and a key-only list (key, rev) reads only kv_keys, a
 *   covering index. Measured (2,004 blocks of 5 KB, 2,004 handles and affinities, Python's
 *   sqlite3): listing the block keys 6.4 ms in schema 1, 3.3 ms with the UNIQUE index alone
 *   (one table lookup per row for rev), 1.3 ms with kv_keys; a handle get plus a block get
 *   33 us -> 28 us; a block put 78 us -> 68 us despite the second index; the file 4% larger.
 *   The statements below name columns only, so they run unchanged on schema 1 (a read-only open
 *   of a schema-1 file is served as it is) and a process of the previous release that opened
 *   the file before an upgrade goes on writing correctly after it.
 *
 * Schema 1 (user_version 1: kv(key TEXT PRIMARY KEY, value BLOB, rev) WITHOUT ROWID, meta) is
 * upgraded in place by the first writable open (upgrade_1_2): one transaction, so every other
 * process sees the file at 1 or at 2, never between, and a process killed during it leaves
 * schema 1. A program older than schema 2 refuses a schema-2 file (it is newer than it knows).
 *
 * The schema (and the WAL journal mode, which is persistent) is written once, by the first
 * open of a new file. Statements are prepared on first use.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "sqlite_int.h"

#define SCHEMA_VERSION 2
#define APPLICATION_ID 0x62697061 /* "bipa" */

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

#define KV_TABLE(name)                                                                             \
	"CREATE TABLE " name " (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"                 \
	" rev INTEGER NOT NULL, value BLOB NOT NULL);"
#define KV_KEYS_INDEX "CREATE INDEX kv_keys ON kv (key, rev);"

static const char schema_sql[] = KV_TABLE("kv") KV_KEYS_INDEX
    "CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0), rev INTEGER NOT NULL);"
    "INSERT INTO meta (id, rev) VALUES (0, 1);"
    "PRAGMA application_id = 1651077217;" /* APPLICATION_ID */
    "PRAGMA user_version = 2;";		  /* SCHEMA_VERSION */

/* Schema 1 -> 2, inside the upgrade's write transaction: the copy is checked before the swap. */
static const char upgrade_copy_sql[] = KV_TABLE(
    "kv2") "INSERT INTO kv2 (key, rev, value) SELECT key, rev, value FROM kv ORDER BY key;";
static const char upgrade_count_sql[] =
    "SELECT (SELECT count(*) FROM kv), (SELECT count(*) FROM kv2),"
    " (SELECT count(*) FROM kv JOIN kv2 USING (key) WHERE kv.rev IS NOT kv2.rev"
    "  OR kv.value IS NOT kv2.value)";
static const char upgrade_swap_sql[] =
    "DROP TABLE kv; ALTER TABLE kv2 RENAME TO kv;" KV_KEYS_INDEX "PRAGMA user_version = 2;";

sqlite3_stmt *bip__sq_stmt(struct sqlite_store *s, enum stmt_id id, int *rc)
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

/* What a file says it is: all read in one statement, so from one snapshot. */
struct ident {
	int64_t version; /* PRAGMA user_version: 0 before the schema is written */
	int64_t app;	 /* PRAGMA application_id */
	int64_t tables;	 /* rows in sqlite_schema */
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
	bip__sq_ts_add_ms(&until, s->timeout_ms);
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	for (int n = 0; rc == SQLITE_OK; n++) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(st, 0);

			rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
			break;
		}
		sqlite3_reset(st);
		if ((rc & 0xff) != SQLITE_BUSY || !bip__sq_backoff(s, n, &until))
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
		ret = bip__sq_map_rc(rc);
		bip__store_seterr(err, errlen, "cannot switch store '%s' to WAL mode: %s", path,
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
	ret = bip__sq_map_rc(rc);
	if (rc != SQLITE_OK)
		bip__store_seterr(err, errlen, "cannot create the schema in store '%s': %s", path,
				  sqlite3_errmsg(s->db));
out:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

/* A failed read of what the file is, in words. */
int bip__sq_read_failed(struct sqlite_store *s, const char *path, int rc, char *err, size_t errlen)
{
	if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
		bip__store_seterr(err, errlen,
				  "store '%s' is not a SQLite database or is corrupt: %s", path,
				  sqlite3_errmsg(s->db));
	else {
		char why[PATH_MAX + 160];

		bool perm = bip__sq_why_unwritable(path, why, sizeof(why));

		bip__store_seterr(err, errlen, "cannot read store '%s': %s%s%s", path,
				  sqlite3_errmsg(s->db), why[0] ? ": " : "", why);
		/* SQLite says "cannot open" (an I/O error) for a -wal it may not open */
		if (perm && ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR))
			return BIP_EPERM;
	}
	return bip__sq_map_rc(rc);
}

/* The three numbers of upgrade_count_sql: rows in kv, rows in kv2, rows that differ. */
static int upgrade_counts(sqlite3 *db, int64_t n[3])
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, upgrade_count_sql, -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < 3; i++)
			n[i] = sqlite3_column_int64(st, i);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Schema 1 -> 2 in one write transaction: BEGIN IMMEDIATE waits (the busy handler) for a
 * writer of either release to finish, so no commit falls between the copy and the swap; the
 * version is read again under it (another process may have upgraded first). The copy is
 * compared with kv, row by row, before kv is dropped. A kill or a failure anywhere before
 * COMMIT leaves schema 1 as it was (the WAL drops an uncommitted transaction).
 */
static int upgrade_1_2(struct sqlite_store *s, const char *path, char *err, size_t errlen)
{
	struct ident id = {0};
	int64_t n[3] = {0};
	int rc;

	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = read_ident(s->db, &id);
	if (rc == SQLITE_OK && id.version == 1 && id.app == APPLICATION_ID) {
		rc = sqlite3_exec(s->db, upgrade_copy_sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = upgrade_counts(s->db, n);
		if (rc == SQLITE_OK && (n[0] != n[1] || n[2] != 0)) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			bip__store_seterr(
			    err, errlen,
			    "cannot upgrade store '%s' to schema %d: the copy holds %lld "
			    "of %lld records, %lld differ; the file is left at schema 1",
			    path, SCHEMA_VERSION, (long long)n[1], (long long)n[0],
			    (long long)n[2]);
			return BIP_ECORRUPT;
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, upgrade_swap_sql, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		bip__store_seterr(err, errlen,
				  "cannot upgrade store '%s' from schema 1 to %d: %s; the file is "
				  "left at schema 1",
				  path, SCHEMA_VERSION, sqlite3_errmsg(s->db));
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return bip__sq_map_rc(rc);
	}
	return BIP_OK;
}

/*
 * The schema step of an open: what the file is, the schema written into a new file and a
 * schema-1 file upgraded (neither by a read-only open, which reads schema 1 as it is), and a
 * refusal of a file that is not ours or is newer than this program.
 */
int bip__sq_open_schema(struct sqlite_store *s, const char *path, char *err, size_t errlen)
{
	struct ident id = {0};
	int rc, ret;

	rc = read_ident(s->db, &id);
	if (rc == SQLITE_OK && id.version == 0 && ident_ours(&id) && !s->read_only) {
		ret = init_schema(s, path, err, errlen);
		if (ret != BIP_OK)
			return ret;
		rc = read_ident(s->db, &id);
	}
	if (rc == SQLITE_OK && id.version == 1 && id.app == APPLICATION_ID && !s->read_only) {
		ret = upgrade_1_2(s, path, err, errlen);
		if (ret != BIP_OK)
			return ret;
		rc = read_ident(s->db, &id);
	}
	if (rc != SQLITE_OK)
		return bip__sq_read_failed(s, path, rc, err, errlen);
	if (!ident_ours(&id)) {
		bip__store_seterr(err, errlen,
				  "store '%s' is a SQLite database but not a blockipam store "
				  "(application_id %lld, user_version %lld, %lld tables)",
				  path, (long long)id.app, (long long)id.version,
				  (long long)id.tables);
		return BIP_ECORRUPT;
	}
	if (id.version > SCHEMA_VERSION) {
		bip__store_seterr(
		    err, errlen,
		    "store '%s' has schema version %lld, newer than this program's (%d): "
		    "upgrade blockipam",
		    path, (long long)id.version, SCHEMA_VERSION);
		return BIP_ESCHEMA;
	}
	/* Only a read-only open sees a new file without the schema: it reads as empty. */
	s->no_schema = id.version == 0;
	return BIP_OK;
}
