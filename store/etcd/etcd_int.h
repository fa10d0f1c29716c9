/*
 * The etcd backend's own state and the functions its files share (etcd.c opens and closes,
 * endpoint.c parses the endpoint list, call.c sends with fail-over and retries, read.c and txn.c
 * are the store operations). Internal to store/etcd.
 */
#ifndef BIP_STORE_ETCD_ETCD_INT_H
#define BIP_STORE_ETCD_ETCD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "blockipam/store.h"
#include "http.h"

/* One store call's budget, and one connect's or one read's share of it (call.c). */
#define DEFAULT_BUDGET_MS 2000
#define ATTEMPT_MS 500
#define PAGE_LIMIT 1000
#define MAX_ENDPOINTS 16
#define HOST_MAX 255

struct endpoint {
	char host[HOST_MAX + 1]; /* without brackets */
	char port[6];
	char hosthdr[HOST_MAX + 10]; /* as the Host header and in messages: host:port */
};

struct etcd {
	struct bip_store base;
	struct endpoint *eps;
	size_t neps, cur;
	struct bip_http_conn conn;
	struct bip_tls *tls;
	char *prefix;
	size_t plen;
	int budget_ms, attempt_ms;
	bool read_only; /* txn refused (BIP_EPERM), as the sqlite backend does */
	int lock_fd;	/* the node lock's file: -1 not opened yet, -2 unavailable */
	char *endpoints;
	char *node; /* the node lock's node ("" for none) */
	uint64_t rng;
	/* Names the node lock's file in messages. */
	uint64_t lock_hash;
	char errmsg[512];
};

static inline struct etcd *bip__to_etcd(struct bip_store *s)
{
	return (struct etcd *)s;
}

/* A key the store accepts: 1..BIP_KEY_MAX bytes. */
static inline bool bip__etcd_key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	return n > 0 && n <= BIP_KEY_MAX;
}

/* endpoint.c */

/*
 * The endpoint list of an etcd address: 1..MAX_ENDPOINTS of "host[:port]" or "[v6][:port]",
 * comma-separated, none empty. The one grammar: bip_store_addr_check (and through it the
 * plugin's config check and bip_store_open) and bip_etcd_open use it. eps has room for
 * MAX_ENDPOINTS (NULL: only check). err: "endpoint 'x' is not ...", without the address.
 */
int bip__etcd_parse_endpoints(const char *endpoints, struct endpoint *eps, size_t *neps, char *err,
			      size_t errlen);

/* call.c */

/* The backend's xorshift generator (jitter, the first endpoint); e->rng is never 0. */
uint64_t bip__etcd_rand(struct etcd *e);

/*
 * POST body to path, failing over and retrying as call.c's comment says (idempotent: may be
 * sent again). BIP_OK: *res is a 200 answer. Otherwise e->errmsg says why.
 */
int bip__etcd_call(struct etcd *e, const char *path, const char *body, size_t len, bool idempotent,
		   struct bip_http_res *res);

/* read.c and txn.c: the store operations of the ops table */

int bip__etcd_get(struct bip_store *s, const char *key, struct bip_kv *out);
int bip__etcd_list(struct bip_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		   void *ctx, int64_t *revp);
int bip__etcd_read(struct bip_store *s, const struct bip_read *reads, size_t n, struct bip_kvs *out,
		   int64_t *revp);
int bip__etcd_txn(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
		  const struct bip_op *ops, size_t nop, int64_t *revp);

#endif
