/*
 * The store: the one narrow interface every backend implements and the allocator depends on.
 *
 *   get(key)            -> value, mod revision           (BIP_ENOTFOUND when absent)
 *   list(prefix)        -> entries in key order, store revision
 *   read(keys, prefixes)-> several gets and lists answered at ONE store revision, in one round
 *                          trip where the backend can (optional: bip_store_read() falls back to
 *                          get and list)
 *   txn(compares, ops)  -> every compare holds (key absent, or key at revision R) and then every
 *                          op (put, delete) applies atomically; otherwise nothing applies and the
 *                          call returns BIP_ECONFLICT.
 *
 * Keys are relative ("pools/p1", "blocks/10.0.0.0-26"); a backend places them under its own
 * prefix. Values are opaque bytes (JSON in practice). Revisions are positive, only grow, and
 * every successful txn that changes something gets a new one, which becomes the mod revision of
 * each key it put. "Taken" and "not found" are results, not errors: BIP_ECONFLICT and
 * BIP_ENOTFOUND. Transient trouble (store busy, unreachable, timed out) is BIP_EAGAIN;
 * anything else BIP_EIO. A timed-out write may still have been applied: callers make every
 * retry safe to repeat.
 */
#ifndef BLOCKIPAM_STORE_H
#define BLOCKIPAM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BIP_STORE_DEFAULT "sqlite:///var/lib/blockipam/ipam.db"
#define BIP_STORE_DEFAULT_DIR "/var/lib/blockipam"
#define BIP_STORE_DEFAULT_PREFIX "/blockipam/v1/"
#define BIP_KEY_MAX 1024
#define BIP_VALUE_MAX (16u << 20)

struct bip_kv {
	char *key;
	unsigned char *value; /* NUL-terminated for convenience; len excludes the NUL */
	size_t len;
	int64_t rev; /* mod revision */
};

/* An owned array of entries. */
struct bip_kvs {
	struct bip_kv *v;
	size_t n;
	int64_t rev; /* store revision at the time of the list */
};

/* A compare: key absent when rev == 0, else the key's mod revision equals rev. */
struct bip_cmp {
	const char *key;
	int64_t rev;
};

enum bip_op_kind { BIP_OP_PUT, BIP_OP_DEL };

struct bip_op {
	enum bip_op_kind kind;
	const char *key;
	const void *value;
	size_t len;
};

/* List flags. */
#define BIP_LIST_KEYS_ONLY 1u

/*
 * One entry of a batch read (bip_store_read): the key itself, or with prefix every key that
 * starts with it ("" = every key). flags: BIP_LIST_KEYS_ONLY (entries without their values).
 */
struct bip_read {
	const char *key;
	bool prefix;
	unsigned flags;
};

/* Entries of one batch read at most (etcd's default --max-txn-ops). */
#define BIP_READ_MAX 128

/* Called once per entry in key order; a non-zero return stops the list and is returned. */
typedef int (*bip_list_fn)(void *ctx, const struct bip_kv *kv);

struct bip_store;

struct bip_store_ops {
	const char *name;
	int (*get)(struct bip_store *s, const char *key, struct bip_kv *out);
	int (*list)(struct bip_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		    void *ctx, int64_t *rev);
	int (*txn)(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
		   const struct bip_op *ops, size_t nop, int64_t *rev);
	void (*close)(struct bip_store *s);
	/* Optional: what went wrong in the last failed call, in words ("" or NULL: nothing). */
	const char *(*errmsg)(struct bip_store *s);
	/*
	 * Optional: hold (on) or give back (off) the store's writer lock across a
	 * read-modify-write, so that a store whose writers queue anyway (SQLite on one machine)
	 * serves concurrent callers in turn instead of letting all but one lose their race and
	 * retry. Correctness never depends on it: the txn compares still decide.
	 */
	int (*lock)(struct bip_store *s, bool on);
	/* Optional: the batch read (see bip_store_read, which falls back to get and list). */
	int (*read)(struct bip_store *s, const struct bip_read *reads, size_t n,
		    struct bip_kvs *out, int64_t *rev);
	/*
	 * Optional: check the store's own structure (SQLite: PRAGMA integrity_check). BIP_OK:
	 * sound. BIP_ECORRUPT: damaged, and errmsg() says where and how to restore it. Another
	 * code: the check could not run.
	 */
	int (*verify)(struct bip_store *s);
};

/* Every backend embeds this as its first member. */
struct bip_store {
	const struct bip_store_ops *ops;
};

struct bip_store_opts {
	const char *prefix;  /* key prefix for shared stores; default BIP_STORE_DEFAULT_PREFIX */
	int timeout_ms;	     /* per-request timeout for networked stores; 0 = default */
	const char *ca_file; /* TLS (etcds://) */
	const char *cert_file;
	const char *key_file;
	bool read_only; /* open without creating anything */
	/*
	 * The handle serves one short request and its process exits (a CNI plugin exec). An
	 * embedded store then skips what a long-lived handle does at close: SQLite keeps its
	 * write-ahead log between processes and folds it into the file every few dozen pages
	 * instead of at every last close (store/sqlite/sqlite.c, "Checkpoints").
	 */
	bool short_lived;
	/*
	 * The node this handle allocates for, when it has one (the plugin's). Processes working for
	 * one node take turns on a lock of that node where the store has one (etcd: an flock
	 * under /run/blockipam); NULL: one lock for every caller without a node.
	 */
	const char *node;
};

/*
 * Open a store from its address: "sqlite:///path/file.db" (or a bare absolute path),
 * "etcd://host:port[,host:port...]", "etcds://..." (TLS). On failure returns a code and writes a
 * message naming the bad part into err (if errlen > 0); nothing is created.
 */
int bip_store_open(const char *addr, const struct bip_store_opts *opts, struct bip_store **out,
		   char *err, size_t errlen);
/* The store address to use: explicit_addr, else env_addr (the caller's BLOCKIPAM_STORE: the
 * library never reads the process environment), else BIP_STORE_DEFAULT. Either may be NULL. */
const char *bip_store_addr_default(const char *explicit_addr, const char *env_addr);
/*
 * The one grammar of store addresses, checked without opening anything (the plugin checks its
 * config with it before any side effect; bip_store_open checks with it first):
 *   sqlite:///abs/path/file.db or /abs/path/file.db (no control characters, not a directory)
 *   etcd://EP[,EP...], etcds://EP[,EP...] with EP = host[:port] or [v6addr][:port], port
 *   1-65535 (default 2379), at most 16 endpoints.
 * BIP_EINVAL with "store address 'x': <what is wrong>" in err.
 */
int bip_store_addr_check(const char *addr, char *err, size_t errlen);
/* etcd's part of it: the endpoint list after "etcd://" (store/etcd). */
int bip_etcd_addr_check(const char *endpoints, char *err, size_t errlen);
void bip_store_close(struct bip_store *s);
/* Words on the last failed call of s (which endpoint, what it said), never NULL: "" when the
 * backend has nothing to add to the code. Valid until the next call on s. */
const char *bip_store_errmsg(struct bip_store *s);

static inline int bip_store_get(struct bip_store *s, const char *key, struct bip_kv *out)
{
	return s->ops->get(s, key, out);
}

static inline int bip_store_list_cb(struct bip_store *s, const char *prefix, unsigned flags,
				    bip_list_fn fn, void *ctx, int64_t *rev)
{
	return s->ops->list(s, prefix, flags, fn, ctx, rev);
}

static inline int bip_store_txn(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
				const struct bip_op *ops, size_t nop, int64_t *rev)
{
	return s->ops->txn(s, cmps, ncmp, ops, nop, rev);
}

/* Collect a list into an owned array (freed with bip_kvs_free). */
int bip_store_list(struct bip_store *s, const char *prefix, unsigned flags, struct bip_kvs *out);

/*
 * Read reads[0..n) (1 <= n <= BIP_READ_MAX) as of one store revision: out[i] receives the
 * entries of reads[i] in key order (a key: 0 or 1 entry, absent is no error), out[i].rev and
 * *rev (if not NULL) that revision, and every entry's mod revision is at most it. So the
 * answers agree with each other as a single snapshot would, which a sequence of gets and lists
 * does not promise. On failure nothing is written to out or *rev. BIP_EINVAL for n outside
 * 1..BIP_READ_MAX or a key that get or list would refuse.
 *
 * Backends with a read op answer in one request (etcd: one txn of ranges). Others go through
 * get and list, bracketed by the revision of lists (a keys-only list of the first entry's key
 * before and after): equal revisions mean nothing changed in between; else the whole batch is
 * read again, and BIP_EAGAIN after a few tries (writers that never pause).
 */
int bip_store_read(struct bip_store *s, const struct bip_read *reads, size_t n, struct bip_kvs *out,
		   int64_t *rev);

/* Copy an entry (for list callbacks that keep one). */
int bip_kv_copy(struct bip_kv *dst, const struct bip_kv *src);
/* Append a copy of kv to kvs (an array grown here; kvs starts zeroed). On failure kvs is as it
 * was. */
int bip_kvs_push(struct bip_kvs *kvs, const struct bip_kv *kv);
void bip_kv_clear(struct bip_kv *kv);
void bip_kvs_free(struct bip_kvs *kvs);

/* Backends: one constructor each. */
int bip_sqlite_open(const char *path, const struct bip_store_opts *opts, struct bip_store **out,
		    char *err, size_t errlen);
int bip_etcd_open(const char *endpoints, bool tls, const struct bip_store_opts *opts,
		  struct bip_store **out, char *err, size_t errlen);

#endif
