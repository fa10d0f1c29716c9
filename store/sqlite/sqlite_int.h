/*
 * The embedded store's private header: the connection, the prepared statements, and the
 * helpers its files share. sqlite.c opens and closes a connection (and says what a failure
 * means), schema.c owns the file format (the tables, the statements, the file's identity),
 * read.c the reads (get, list, the batch read), txn.c the writer lock and the transactions.
 */
#ifndef BIP_STORE_SQLITE_INT_H
#define BIP_STORE_SQLITE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#include "blockipam/store.h"
#include "../store_int.h"

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

struct sqlite_store {
	struct bip_store base;
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	int lock_fd;
	int timeout_ms;
	bool read_only;
	bool no_wait;	/* the busy handler gives up at once (a checkpoint that must not wait) */
	bool no_schema; /* read-only open of a file no writer has initialised: an empty store */
	bool in_list;
	bool session; /* the writer lock is held across calls (sq_lock) */
	unsigned seed;
	struct timespec busy_until;
	char errmsg[PATH_MAX + 160]; /* why the last write_lock() failed, else "" */
};

/* sqlite.c: errors, in store terms and in words */
void bip__sq_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int bip__sq_map_rc(int rc);
int bip__sq_map_errno(int e);
int bip__sq_rc(struct sqlite_store *s, int rc);
bool bip__sq_why_unwritable(const char *path, char *buf, size_t len);

/* schema.c: the statements, and the schema check of an open */
sqlite3_stmt *bip__sq_stmt(struct sqlite_store *s, enum stmt_id id, int *rc);
int bip__sq_open_schema(struct sqlite_store *s, const char *path, char *err, size_t errlen);
int bip__sq_read_failed(struct sqlite_store *s, const char *path, int rc, char *err, size_t errlen);

/* read.c */
bool bip__sq_key_ok(const char *key);
int bip__sq_store_rev(struct sqlite_store *s, int64_t *rev);
int bip__sq_get(struct bip_store *bs, const char *key, struct bip_kv *out);
int bip__sq_list(struct bip_store *bs, const char *prefix, unsigned flags, bip_list_fn fn,
		 void *ctx, int64_t *rev);
int bip__sq_read(struct bip_store *bs, const struct bip_read *reads, size_t n, struct bip_kvs *out,
		 int64_t *rev);

/* txn.c: waiting, statements without rows, transactions and the writer lock */
void bip__sq_ts_add_ms(struct timespec *t, int ms);
bool bip__sq_backoff(struct sqlite_store *s, int n, const struct timespec *until);
int bip__sq_busy_wait(void *arg, int n);
int bip__sq_exec(struct sqlite_store *s, enum stmt_id id);
void bip__sq_end_txn(struct sqlite_store *s);
int bip__sq_txn(struct bip_store *bs, const struct bip_cmp *cmps, size_t ncmp,
		const struct bip_op *ops, size_t nops, int64_t *rev);
int bip__sq_lock(struct bip_store *bs, bool on);

#endif
