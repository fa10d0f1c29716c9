/*
 * DO NOT MERGE. A throwaway stand-in for the parts of libblockipam that are written in other
 * branches (lib/ipam.c, lib/selector.c, store/sqlite/), so that the CNI plugin links and its
 * end-to-end tests can run in the `cni` branch before the engine lands. Delete this file when
 * merging the engine: its symbols collide with the real ones on purpose.
 *
 * What it is: a tiny SQLite key-value store behind the real store interface (store.h), and a
 * naive allocator over it: "pools/<name>", "handles/<id>", "ips/<addr>" records in JSON, first
 * free address of the first eligible pool (or host-local range), one store transaction per
 * change with compare-and-swap and retry. No blocks, affinities, borrowing, selectors (only
 * "" / "all()"), reservations or namespaces. Blocks are derived from allocations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "blockipam/ipam.h"
#include "blockipam/selector.h"
#include "blockipam/store.h"

/* --- store: sqlite key-value ------------------------------------------------------------ */

struct kvstore {
	struct bip_store base;
	sqlite3 *db;
};

static int sq_err(int rc)
{
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? BIP_EAGAIN : BIP_EIO;
}

static int kv_get(struct bip_store *s, const char *key, struct bip_kv *out)
{
	struct kvstore *k = (struct kvstore *)s;
	sqlite3_stmt *st = NULL;
	struct bip_kv kv = {0};
	int rc = sqlite3_prepare_v2(k->db, "SELECT value, rev FROM kv WHERE key = ?", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sq_err(rc);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return BIP_ENOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return sq_err(rc);
	}
	kv.key = strdup(key);
	kv.len = (size_t)sqlite3_column_bytes(st, 0);
	kv.value = malloc(kv.len + 1);
	if (!kv.key || !kv.value) {
		sqlite3_finalize(st);
		bip_kv_clear(&kv);
		return BIP_ENOMEM;
	}
	if (kv.len)
		memcpy(kv.value, sqlite3_column_blob(st, 0), kv.len);
	kv.value[kv.len] = '\0';
	kv.rev = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	*out = kv;
	return BIP_OK;
}

static int64_t cur_rev(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t rev = 0;

	if (sqlite3_prepare_v2(db, "SELECT rev FROM meta", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		rev = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rev;
}

static int kv_list(struct bip_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		   void *ctx, int64_t *rev)
{
	struct kvstore *k = (struct kvstore *)s;
	sqlite3_stmt *st = NULL;
	int rc;

	(void)flags;
	rc = sqlite3_exec(k->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_err(rc);
	rc = sqlite3_prepare_v2(k->db,
				"SELECT key, value, rev FROM kv WHERE substr(key, 1, ?) = ? "
				"ORDER BY key",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
		return sq_err(rc);
	}
	sqlite3_bind_int(st, 1, (int)strlen(prefix));
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	if (rev)
		*rev = cur_rev(k->db);
	rc = BIP_OK;
	for (;;) {
		int r = sqlite3_step(st);
		struct bip_kv kv;

		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_ROW) {
			rc = sq_err(r);
			break;
		}
		kv.key = (char *)sqlite3_column_text(st, 0);
		kv.value = (unsigned char *)sqlite3_column_text(st, 1);
		kv.len = (size_t)sqlite3_column_bytes(st, 1);
		kv.rev = sqlite3_column_int64(st, 2);
		rc = fn(ctx, &kv);
		if (rc)
			break;
	}
	sqlite3_finalize(st);
	sqlite3_exec(k->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

static int kv_txn(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
		  const struct bip_op *ops, size_t nop, int64_t *rev)
{
	struct kvstore *k = (struct kvstore *)s;
	int64_t next;
	int rc = sqlite3_exec(k->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_err(rc);
	for (size_t i = 0; i < ncmp; i++) {
		sqlite3_stmt *st = NULL;
		int64_t have = 0;

		sqlite3_prepare_v2(k->db, "SELECT rev FROM kv WHERE key = ?", -1, &st, NULL);
		sqlite3_bind_text(st, 1, cmps[i].key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			have = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (have != cmps[i].rev) {
			sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
			return BIP_ECONFLICT;
		}
	}
	next = cur_rev(k->db) + 1;
	for (size_t i = 0; i < nop; i++) {
		sqlite3_stmt *st = NULL;

		if (ops[i].kind == BIP_OP_PUT) {
			sqlite3_prepare_v2(k->db, "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", -1,
					   &st, NULL);
			sqlite3_bind_text(st, 1, ops[i].key, -1, SQLITE_STATIC);
			sqlite3_bind_blob(st, 2, ops[i].value, (int)ops[i].len, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, next);
		} else {
			sqlite3_prepare_v2(k->db, "DELETE FROM kv WHERE key = ?", -1, &st, NULL);
			sqlite3_bind_text(st, 1, ops[i].key, -1, SQLITE_STATIC);
		}
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
			return sq_err(rc);
		}
	}
	sqlite3_exec(k->db, "UPDATE meta SET rev = rev + 1", NULL, NULL, NULL);
	rc = sqlite3_exec(k->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
		return sq_err(rc);
	}
	if (rev)
		*rev = next;
	return BIP_OK;
}

static void kv_close(struct bip_store *s)
{
	struct kvstore *k = (struct kvstore *)s;

	sqlite3_close(k->db);
	free(k);
}

static const struct bip_store_ops kv_ops = {"sqlite-stub", kv_get, kv_list, kv_txn, kv_close};

int bip_sqlite_open(const char *path, const struct bip_store_opts *opts, struct bip_store **out,
		    char *err, size_t errlen)
{
	struct kvstore *k = calloc(1, sizeof(*k));
	int flags = opts && opts->read_only ? SQLITE_OPEN_READWRITE
					    : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc;

	if (!k)
		return BIP_ENOMEM;
	k->base.ops = &kv_ops;
	rc = sqlite3_open_v2(path, &k->db, flags, NULL);
	if (rc != SQLITE_OK) {
		if (err && errlen)
			snprintf(err, errlen, "sqlite '%s': %s", path, sqlite3_errmsg(k->db));
		sqlite3_close(k->db);
		free(k);
		return BIP_EIO;
	}
	sqlite3_busy_timeout(k->db, 30000);
	rc = sqlite3_exec(k->db,
			  "PRAGMA journal_mode=WAL;"
			  "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB, rev INT);"
			  "CREATE TABLE IF NOT EXISTS meta (rev INT);"
			  "INSERT INTO meta SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM meta);",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (err && errlen)
			snprintf(err, errlen, "sqlite '%s': %s", path, sqlite3_errmsg(k->db));
		kv_close(&k->base);
		return sq_err(rc);
	}
	if (!(opts && opts->read_only))
		chmod(path, 0600);
	*out = &k->base;
	return BIP_OK;
}

/* --- selector: all() only ---------------------------------------------------------------- */

struct bip_selector {
	int all;
};

int bip_selector_parse(const char *text, struct bip_selector **out, char *err, size_t errlen)
{
	if (text && *text && strcmp(text, "all()") != 0) {
		if (err && errlen)
			snprintf(err, errlen, "stub selector: only all()");
		return BIP_EUNSUPPORTED;
	}
	*out = calloc(1, sizeof(**out));
	return *out ? BIP_OK : BIP_ENOMEM;
}

void bip_selector_free(struct bip_selector *sel)
{
	free(sel);
}

bool bip_selector_match(const struct bip_selector *sel, const struct bip_label *labels, size_t n)
{
	(void)sel;
	(void)labels;
	(void)n;
	return true;
}

/* --- engine ------------------------------------------------------------------------------- */

struct bip_ipam {
	struct bip_store *store;
	char err[256];
	uint64_t retries;
};

int bip_ipam_new(struct bip_store *store, struct bip_ipam **out)
{
	struct bip_ipam *i = calloc(1, sizeof(*i));

	if (!i)
		return BIP_ENOMEM;
	i->store = store;
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	*out = i;
	return BIP_OK;
}

void bip_ipam_free(struct bip_ipam *ipam)
{
	free(ipam);
}

const char *bip_ipam_errmsg(const struct bip_ipam *ipam)
{
	return ipam ? ipam->err : "";
}

uint64_t bip_ipam_retries(const struct bip_ipam *ipam)
{
	return ipam->retries;
}

static int fail(struct bip_ipam *ipam, int rc, const char *msg)
{
	snprintf(ipam->err, sizeof(ipam->err), "%s", msg);
	return rc;
}

void bip_config_default(struct bip_config *cfg)
{
	*cfg = (struct bip_config){.auto_allocate_blocks = true};
}

int bip_ipam_config_get(struct bip_ipam *ipam, struct bip_config *out)
{
	(void)ipam;
	bip_config_default(out);
	return BIP_OK;
}

void bip_pool_clear(struct bip_pool *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->node_selector);
	free(p->ns_selector);
	free(p->extra);
	memset(p, 0, sizeof(*p));
}

void bip_pools_free(struct bip_pool *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		bip_pool_clear(&v[i]);
	free(v);
}

/* json_dumps of a packed object, freeing the object. */
static char *dumps_new(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

int bip_ipam_pool_put(struct bip_ipam *ipam, struct bip_pool *pool, bool create_only)
{
	char key[BIP_KEY_MAX], cidr[BIP_PREFIX_STRLEN];
	struct bip_cmp cmp;
	struct bip_op op;
	char *val;
	int rc;

	ipam->err[0] = '\0';
	if (!pool->name || !*pool->name)
		return fail(ipam, BIP_EINVAL, "pool name missing");
	if (!bip_prefix_eq(pool->cidr, (struct bip_prefix){bip_prefix_first(pool->cidr),
							     pool->cidr.len}))
		return fail(ipam, BIP_EHOSTBITS, "host bits set");
	if (!pool->block_len)
		pool->block_len = pool->cidr.addr.family == 4 ? 26 : 122;
	if (pool->block_len < pool->cidr.len)
		return fail(ipam, BIP_EINVAL, "pool smaller than a block");
	if (!pool->allowed_uses)
		pool->allowed_uses = BIP_USE_WORKLOAD | BIP_USE_TUNNEL;
	snprintf(key, sizeof(key), "pools/%s", pool->name);
	val = dumps_new(json_pack("{s:s,s:i,s:b,s:s}", "cidr", bip_prefix_fmt(pool->cidr, cidr),
				  "blockSize", (int)pool->block_len, "disabled", pool->disabled,
				  "nodeSelector", pool->node_selector ? pool->node_selector : ""));
	if (!val)
		return BIP_ENOMEM;
	cmp = (struct bip_cmp){key, 0};
	op = (struct bip_op){BIP_OP_PUT, key, val, strlen(val)};
	rc = bip_store_txn(ipam->store, &cmp, create_only ? 1 : 0, &op, 1, NULL);
	free(val);
	if (rc == BIP_ECONFLICT)
		return fail(ipam, BIP_EEXIST, "pool exists");
	return rc;
}

static int pool_decode(const struct bip_kv *kv, struct bip_pool *p)
{
	json_t *j = json_loads((const char *)kv->value, 0, NULL);
	const char *cidr = json_string_value(json_object_get(j, "cidr"));

	memset(p, 0, sizeof(*p));
	if (!cidr || bip_prefix_parse_net(cidr, &p->cidr) != BIP_OK) {
		json_decref(j);
		return BIP_ECORRUPT;
	}
	p->name = strdup(kv->key + strlen("pools/"));
	p->block_len = (unsigned)json_integer_value(json_object_get(j, "blockSize"));
	p->disabled = json_is_true(json_object_get(j, "disabled"));
	p->node_selector = strdup(json_string_value(json_object_get(j, "nodeSelector")));
	p->allowed_uses = BIP_USE_WORKLOAD | BIP_USE_TUNNEL;
	json_decref(j);
	return BIP_OK;
}

int bip_ipam_pool_list(struct bip_ipam *ipam, struct bip_pool **out, size_t *n)
{
	struct bip_kvs kvs = {0};
	struct bip_pool *v;
	int rc = bip_store_list(ipam->store, "pools/", 0, &kvs);

	if (rc != BIP_OK)
		return rc;
	v = calloc(kvs.n + 1, sizeof(*v));
	for (size_t i = 0; v && i < kvs.n; i++)
		pool_decode(&kvs.v[i], &v[i]);
	*out = v;
	*n = kvs.n;
	bip_kvs_free(&kvs);
	return v ? BIP_OK : BIP_ENOMEM;
}

void bip_handle_info_clear(struct bip_handle_info *h)
{
	if (!h)
		return;
	free(h->id);
	free(h->node);
	free(h->namespace);
	free(h->pod);
	free(h->container);
	free(h->ifname);
	free(h->addrs);
	memset(h, 0, sizeof(*h));
}

static char *dupj(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s && *s ? strdup(s) : NULL;
}

static int handle_decode(const char *id, const char *text, struct bip_handle_info *h)
{
	json_t *j = json_loads(text, 0, NULL), *a;
	size_t i;

	if (!j)
		return BIP_ECORRUPT;
	memset(h, 0, sizeof(*h));
	h->id = strdup(id);
	h->node = dupj(j, "node");
	h->namespace = dupj(j, "namespace");
	h->pod = dupj(j, "pod");
	h->container = dupj(j, "container");
	h->ifname = dupj(j, "ifname");
	h->time = json_integer_value(json_object_get(j, "time"));
	h->addrs = calloc(json_array_size(json_object_get(j, "addrs")) + 1, sizeof(*h->addrs));
	json_array_foreach(json_object_get(j, "addrs"), i, a)
		bip_prefix_parse(json_string_value(a), &h->addrs[h->naddrs++]);
	json_decref(j);
	return BIP_OK;
}

int bip_ipam_handle_get(struct bip_ipam *ipam, const char *handle, struct bip_handle_info *out)
{
	char key[BIP_KEY_MAX];
	struct bip_kv kv = {0};
	int rc;

	snprintf(key, sizeof(key), "handles/%s", handle);
	rc = bip_store_get(ipam->store, key, &kv);
	if (rc != BIP_OK)
		return rc;
	rc = handle_decode(handle, (const char *)kv.value, out);
	bip_kv_clear(&kv);
	return rc;
}

struct hf {
	int (*fn)(void *ctx, const struct bip_handle_info *h);
	void *ctx;
};

static int hf_one(void *ctx, const struct bip_kv *kv)
{
	struct hf *f = ctx;
	struct bip_handle_info h;
	int rc = handle_decode(kv->key + strlen("handles/"), (const char *)kv->value, &h);

	if (rc)
		return rc;
	rc = f->fn(f->ctx, &h);
	bip_handle_info_clear(&h);
	return rc;
}

int bip_ipam_handle_foreach(struct bip_ipam *ipam, const char *prefix,
			    int (*fn)(void *ctx, const struct bip_handle_info *h), void *ctx)
{
	char key[BIP_KEY_MAX];
	struct hf f = {fn, ctx};

	snprintf(key, sizeof(key), "handles/%s", prefix);
	return bip_store_list_cb(ipam->store, key, 0, hf_one, &f, NULL);
}

void bip_alloc_result_free(struct bip_alloc_result *res)
{
	if (!res)
		return;
	free(res->v);
	res->v = NULL;
	res->n = 0;
}

static void ip_key(char *key, size_t n, struct bip_addr a)
{
	char buf[BIP_ADDR_STRLEN];

	snprintf(key, n, "ips/%s", bip_addr_fmt(a, buf));
}

/* A candidate source: a pool (whole CIDR, blocks of block_len) or a host-local range. */
struct cand {
	struct bip_addr first, last, gateway;
	struct bip_prefix subnet;
	unsigned block_len;
	int range_index;
};

static bool pool_named(const struct bip_pool *p, const char *const *names, size_t n)
{
	char buf[BIP_PREFIX_STRLEN];

	bip_prefix_fmt(p->cidr, buf);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], p->name) == 0 || strcmp(names[i], buf) == 0)
			return true;
	return false;
}

static size_t candidates(const struct bip_alloc_req *req, const struct bip_pool *pools,
			 size_t npools, int family, struct cand *out, size_t max)
{
	size_t n = 0;

	if (req->nranges) {
		for (size_t i = 0; i < req->nranges && n < max; i++) {
			const struct bip_range *r = &req->ranges[i];

			if (r->subnet.addr.family != family)
				continue;
			out[n++] = (struct cand){r->start, r->end, r->gateway, r->subnet,
						 r->subnet.len, (int)i};
		}
		return n;
	}
	/* the first level that names any pools decides, found or not */
	for (int level = req->npools ? 0 : req->ncfg_pools ? 1 : 2, done = 0; !done; done = 1) {
		for (size_t i = 0; i < npools && n < max; i++) {
			const struct bip_pool *p = &pools[i];
			bool use = level == 0   ? pool_named(p, req->pools, req->npools)
				   : level == 1 ? pool_named(p, req->cfg_pools, req->ncfg_pools)
						: !p->disabled;

			if (!use || p->cidr.addr.family != family)
				continue;
			out[n++] = (struct cand){bip_prefix_first(p->cidr), bip_prefix_last(p->cidr),
						 {0}, p->cidr, p->block_len, -1};
		}
	}
	return n;
}

static int collect_key(void *ctx, const struct bip_kv *kv)
{
	struct bip_kvs *k = ctx;
	struct bip_kv *v = realloc(k->v, (k->n + 1) * sizeof(*v));

	if (!v)
		return BIP_ENOMEM;
	k->v = v;
	return bip_kv_copy(&k->v[k->n++], kv);
}

static bool used(const struct bip_kvs *taken, struct bip_addr a, const struct bip_assigned *mine,
		 size_t nmine)
{
	char key[BIP_KEY_MAX];

	for (size_t i = 0; i < nmine; i++)
		if (bip_addr_eq(mine[i].addr, a))
			return true;
	ip_key(key, sizeof(key), a);
	for (size_t i = 0; i < taken->n; i++)
		if (strcmp(taken->v[i].key, key) == 0)
			return true;
	return false;
}

static struct bip_assigned assigned(const struct cand *c, struct bip_addr a)
{
	struct bip_assigned r = {.addr = a, .range_index = c->range_index};

	if (c->range_index >= 0)
		r.block = c->subnet;
	else
		bip_prefix_sub_of(c->subnet, c->block_len, a, &r.block, NULL);
	return r;
}

static int pick(const struct bip_alloc_req *req, const struct bip_pool *pools, size_t npools,
		int family, const struct bip_kvs *taken, struct bip_assigned *mine, size_t *nmine,
		unsigned attempt)
{
	struct cand c[32];
	size_t nc = candidates(req, pools, npools, family, c, 32);
	unsigned skip = attempt ? (unsigned)rand() % 64 : 0;
	bool any = false;

	if (!nc)
		return BIP_ENOPOOL;
	for (size_t i = 0; i < nc; i++) {
		for (struct bip_addr a = c[i].first;; a = bip_addr_next(a)) {
			if (!(c[i].gateway.family && bip_addr_eq(a, c[i].gateway)) &&
			    !used(taken, a, mine, *nmine)) {
				any = true;
				if (!skip) {
					mine[(*nmine)++] = assigned(&c[i], a);
					return BIP_OK;
				}
				skip--;
			}
			if (bip_addr_eq(a, c[i].last))
				break;
		}
	}
	if (any) /* fewer free than the random skip: take the first again */
		return pick(req, pools, npools, family, taken, mine, nmine, 0);
	return BIP_EEXHAUSTED;
}

static int allocate_once(struct bip_ipam *ipam, const struct bip_alloc_req *req,
			 struct bip_alloc_result *out, unsigned attempt)
{
	char hkey[BIP_KEY_MAX], keys[34][BIP_KEY_MAX];
	struct bip_kv kv = {0};
	struct bip_kvs taken = {0};
	struct bip_pool *pools = NULL;
	size_t npools = 0, nmine = 0;
	struct bip_assigned mine[32];
	struct bip_cmp cmps[34];
	struct bip_op ops[34];
	char *vals[34] = {NULL};
	json_t *h = NULL, *addrs;
	int rc;

	snprintf(hkey, sizeof(hkey), "handles/%s", req->handle);
	rc = bip_store_get(ipam->store, hkey, &kv);
	if (rc == BIP_OK) {
		struct bip_handle_info hi;

		rc = handle_decode(req->handle, (const char *)kv.value, &hi);
		bip_kv_clear(&kv);
		if (rc)
			return rc;
		out->v = calloc(hi.naddrs + 1, sizeof(*out->v));
		for (size_t i = 0; out->v && i < hi.naddrs; i++)
			out->v[i] = (struct bip_assigned){.addr = hi.addrs[i].addr,
							  .block = hi.addrs[i],
							  .range_index = -1};
		out->n = hi.naddrs;
		out->existing = true;
		/* the range index of host-local addresses, for the gateway */
		for (size_t i = 0; i < out->n; i++)
			for (size_t r = 0; r < req->nranges; r++)
				if (bip_prefix_contains(req->ranges[r].subnet, out->v[i].addr))
					out->v[i].range_index = (int)r;
		bip_handle_info_clear(&hi);
		return out->v ? BIP_OK : BIP_ENOMEM;
	}
	if (rc != BIP_ENOTFOUND)
		return rc;
	rc = bip_ipam_pool_list(ipam, &pools, &npools);
	if (rc == BIP_OK)
		rc = bip_store_list_cb(ipam->store, "ips/", 0, collect_key, &taken, NULL);
	if (rc != BIP_OK)
		goto out;
	if (req->nips) {
		for (size_t i = 0; i < req->nips && rc == BIP_OK; i++) {
			struct cand c[32];
			size_t nc = candidates(req, pools, npools, req->ips[i].family, c, 32);
			bool in = false;

			if (req->nranges == 0) { /* any pool, named or not */
				nc = 0;
				for (size_t p = 0; p < npools && nc < 32; p++)
					if (pools[p].cidr.addr.family == req->ips[i].family)
						c[nc++] = (struct cand){
							bip_prefix_first(pools[p].cidr),
							bip_prefix_last(pools[p].cidr), {0},
							pools[p].cidr, pools[p].block_len, -1};
			}
			for (size_t k = 0; k < nc && !in; k++) {
				if (bip_addr_cmp(req->ips[i], c[k].first) >= 0 &&
				    bip_addr_cmp(req->ips[i], c[k].last) <= 0) {
					in = true;
					if (used(&taken, req->ips[i], mine, nmine))
						rc = fail(ipam, BIP_ETAKEN, "address taken");
					else
						mine[nmine++] = assigned(&c[k], req->ips[i]);
				}
			}
			if (!in)
				rc = fail(ipam, BIP_ENOPOOL, "address in no pool");
		}
	} else {
		for (unsigned k = 0; k < req->num4 && rc == BIP_OK; k++)
			rc = pick(req, pools, npools, 4, &taken, mine, &nmine, attempt);
		for (unsigned k = 0; k < req->num6 && rc == BIP_OK; k++)
			rc = pick(req, pools, npools, 6, &taken, mine, &nmine, attempt);
		if (rc == BIP_EEXHAUSTED)
			fail(ipam, rc, "no free address in the eligible pools");
		else if (rc == BIP_ENOPOOL)
			fail(ipam, rc, "no eligible pool");
	}
	if (rc != BIP_OK)
		goto out;
	h = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:I,s:[]}", "node", req->node, "namespace",
		      req->attrs.namespace, "pod", req->attrs.pod, "container", req->attrs.container,
		      "ifname", req->attrs.ifname, "time", (json_int_t)time(NULL), "addrs");
	addrs = json_object_get(h, "addrs");
	cmps[0] = (struct bip_cmp){hkey, 0};
	for (size_t i = 0; i < nmine; i++) {
		char buf[BIP_PREFIX_STRLEN];

		json_array_append_new(addrs, json_string(bip_prefix_fmt(
						     (struct bip_prefix){mine[i].addr, mine[i].block.len},
						     buf)));
		ip_key(keys[i], sizeof(keys[i]), mine[i].addr);
		cmps[i + 1] = (struct bip_cmp){keys[i], 0};
		vals[i + 1] =
			dumps_new(json_pack("{s:s,s:s}", "handle", req->handle, "node", req->node));
		ops[i + 1] = (struct bip_op){BIP_OP_PUT, keys[i], vals[i + 1], strlen(vals[i + 1])};
	}
	vals[0] = json_dumps(h, JSON_COMPACT);
	ops[0] = (struct bip_op){BIP_OP_PUT, hkey, vals[0], strlen(vals[0])};
	rc = bip_store_txn(ipam->store, cmps, nmine + 1, ops, nmine + 1, NULL);
	if (rc == BIP_OK) {
		out->v = calloc(nmine + 1, sizeof(*out->v));
		if (out->v)
			memcpy(out->v, mine, nmine * sizeof(*mine));
		out->n = nmine;
		out->existing = false;
	}
out:
	for (size_t i = 0; i < 34; i++)
		free(vals[i]);
	json_decref(h);
	bip_kvs_free(&taken);
	bip_pools_free(pools, npools);
	return rc;
}

int bip_ipam_allocate(struct bip_ipam *ipam, const struct bip_alloc_req *req,
		      struct bip_alloc_result *out)
{
	ipam->err[0] = '\0';
	if (!req->handle || !*req->handle || strlen(req->handle) >= BIP_HANDLE_MAX)
		return fail(ipam, BIP_EINVAL, "bad handle");
	if (req->nips + req->num4 + req->num6 > 32)
		return fail(ipam, BIP_EINVAL, "too many addresses");
	for (unsigned attempt = 0; attempt < 5000; attempt++) {
		int rc = allocate_once(ipam, req, out, attempt);

		if (rc != BIP_ECONFLICT && rc != BIP_EAGAIN)
			return rc;
		ipam->retries++;
		usleep((useconds_t)(rand() % 2000));
	}
	return fail(ipam, BIP_EAGAIN, "too many lost races");
}

int bip_ipam_release_handle(struct bip_ipam *ipam, const char *handle)
{
	ipam->err[0] = '\0';
	for (unsigned attempt = 0; attempt < 5000; attempt++) {
		char hkey[BIP_KEY_MAX], keys[33][BIP_KEY_MAX];
		struct bip_kv kv = {0};
		struct bip_handle_info h;
		struct bip_cmp cmp;
		struct bip_op ops[33];
		size_t n = 0;
		int rc;

		snprintf(hkey, sizeof(hkey), "handles/%s", handle);
		rc = bip_store_get(ipam->store, hkey, &kv);
		if (rc != BIP_OK)
			return rc;
		cmp = (struct bip_cmp){hkey, kv.rev};
		rc = handle_decode(handle, (const char *)kv.value, &h);
		bip_kv_clear(&kv);
		if (rc)
			return rc;
		ops[n++] = (struct bip_op){BIP_OP_DEL, hkey, NULL, 0};
		for (size_t i = 0; i < h.naddrs && n < 33; i++) {
			ip_key(keys[i], sizeof(keys[i]), h.addrs[i].addr);
			ops[n++] = (struct bip_op){BIP_OP_DEL, keys[i], NULL, 0};
		}
		bip_handle_info_clear(&h);
		rc = bip_store_txn(ipam->store, &cmp, 1, ops, n, NULL);
		if (rc != BIP_ECONFLICT && rc != BIP_EAGAIN)
			return rc;
		usleep((useconds_t)(rand() % 2000));
	}
	return BIP_EAGAIN;
}

void bip_addr_info_clear(struct bip_addr_info *ai)
{
	if (!ai)
		return;
	bip_handle_info_clear(&ai->holder);
	free(ai->block_node);
	free(ai->pool);
	memset(ai, 0, sizeof(*ai));
}

int bip_ipam_addr_info(struct bip_ipam *ipam, struct bip_addr addr, struct bip_addr_info *out)
{
	char key[BIP_KEY_MAX];
	struct bip_kv kv = {0};
	json_t *j;
	int rc;

	ip_key(key, sizeof(key), addr);
	rc = bip_store_get(ipam->store, key, &kv);
	if (rc != BIP_OK)
		return rc;
	j = json_loads((const char *)kv.value, 0, NULL);
	memset(out, 0, sizeof(*out));
	out->holder.id = dupj(j, "handle");
	out->holder.node = dupj(j, "node");
	json_decref(j);
	bip_kv_clear(&kv);
	return BIP_OK;
}

void bip_node_clear(struct bip_node *n)
{
	if (n)
		memset(n, 0, sizeof(*n));
}

int bip_ipam_node_get(struct bip_ipam *ipam, const char *name, struct bip_node *out)
{
	(void)ipam;
	(void)name;
	(void)out;
	return BIP_ENOTFOUND;
}

struct af {
	int (*fn)(void *ctx, const struct bip_alloc_entry *e);
	void *ctx;
	struct bip_pool *pools;
	size_t npools;
};

static int af_one(void *ctx, const struct bip_kv *kv)
{
	struct af *f = ctx;
	json_t *j = json_loads((const char *)kv->value, 0, NULL);
	struct bip_alloc_entry e = {0};
	int rc;

	if (bip_addr_parse(kv->key + 4, &e.addr) != BIP_OK) {
		json_decref(j);
		return BIP_ECORRUPT;
	}
	e.block = (struct bip_prefix){e.addr, (uint8_t)bip_addr_bits(e.addr)};
	for (size_t i = 0; i < f->npools; i++)
		if (bip_prefix_contains(f->pools[i].cidr, e.addr))
			bip_prefix_sub_of(f->pools[i].cidr, f->pools[i].block_len, e.addr, &e.block,
					  NULL);
	e.handle = json_string_value(json_object_get(j, "handle"));
	e.node = json_string_value(json_object_get(j, "node"));
	e.block_node = e.node;
	rc = f->fn(f->ctx, &e);
	json_decref(j);
	return rc;
}

int bip_ipam_alloc_foreach(struct bip_ipam *ipam,
			   int (*fn)(void *ctx, const struct bip_alloc_entry *e), void *ctx)
{
	struct af f = {fn, ctx, NULL, 0};
	int rc = bip_ipam_pool_list(ipam, &f.pools, &f.npools);

	if (rc == BIP_OK)
		rc = bip_store_list_cb(ipam->store, "ips/", 0, af_one, &f, NULL);
	bip_pools_free(f.pools, f.npools);
	return rc;
}

void bip_block_infos_free(struct bip_block_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].node);
		free(v[i].pool);
	}
	free(v);
}

struct bl {
	struct bip_block_info *v;
	size_t n;
	struct bip_pool *pools;
	size_t npools;
};

static int bl_one(void *ctx, const struct bip_alloc_entry *e)
{
	struct bl *b = ctx;
	struct bip_block_info *v;

	for (size_t i = 0; i < b->n; i++) {
		if (bip_prefix_eq(b->v[i].cidr, e->block)) {
			b->v[i].used++;
			return 0;
		}
	}
	v = realloc(b->v, (b->n + 1) * sizeof(*v));
	if (!v)
		return BIP_ENOMEM;
	b->v = v;
	v = &b->v[b->n++];
	memset(v, 0, sizeof(*v));
	v->cidr = e->block;
	v->node = e->node ? strdup(e->node) : NULL;
	v->size = (uint64_t)bip_prefix_last_ordinal(e->block) + 1;
	v->used = 1;
	for (size_t i = 0; i < b->npools; i++)
		if (bip_prefix_covers(b->pools[i].cidr, e->block))
			v->pool = strdup(b->pools[i].name);
	return 0;
}

int bip_ipam_block_list(struct bip_ipam *ipam, struct bip_block_info **out, size_t *n)
{
	struct bl b = {0};
	int rc = bip_ipam_pool_list(ipam, &b.pools, &b.npools);

	if (rc == BIP_OK)
		rc = bip_ipam_alloc_foreach(ipam, bl_one, &b);
	bip_pools_free(b.pools, b.npools);
	if (rc != BIP_OK) {
		bip_block_infos_free(b.v, b.n);
		return rc;
	}
	*out = b.v;
	*n = b.n;
	return BIP_OK;
}
