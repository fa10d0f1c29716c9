/*
 * The etcd v3 backend: the store interface over etcd's JSON gateway (/v3/kv/range, /v3/kv/txn),
 * through one kept-alive HTTP/1.1 connection (http.c), TLS when the address is etcds:// (tls.c,
 * OpenSSL loaded only then).
 *
 *   get(key)       range on prefix+key
 *   list(p)        range [prefix+p, prefix+p with its last byte + 1), in pages of PAGE_LIMIT;
 *                  the first page's header revision is pinned for the next pages, so the whole
 *                  list is one snapshot and that revision is the list's revision
 *   txn(cmps, ops) compare CREATE == 0 (absent) or MOD == rev; success = the puts and deletes;
 *                  no "succeeded" in the answer = BIP_ECONFLICT
 *   read(entries)  one txn without compares whose success ops are ranges (a key, or a prefix
 *                  in pages of PAGE_LIMIT): one request, one revision for all; a prefix with
 *                  more than a page goes on by range requests pinned at that revision. Sent
 *                  again as freely as a get: it writes nothing.
 *
 * Time. opts->timeout_ms (default DEFAULT_BUDGET_MS) is the budget of one store call, retries
 * included. Within it, a connect, and each wait for a reading request's answer, may last
 * ATTEMPT_MS: etcd answers in about a millisecond, and during a leader election it hangs
 * instead of failing (1.7 s measured), so a short wait then another endpoint is the way through.
 *
 * Retries. Failures of the transport (refused, reset, timed out, a malformed answer) and
 * answers that say "unavailable" (HTTP 5xx, gRPC Unavailable, e.g. 503 after 7 s without
 * quorum) move to the next endpoint; after a full round of endpoints the call sleeps a
 * jittered, growing backoff. Reads are retried until the budget runs out. A txn is retried only
 * when it certainly never reached etcd (the connection failed before the whole request was
 * written): once sent, a timeout or 5xx leaves its outcome unknown (a timed-out write was seen
 * applied later), so it is NOT sent again, and the call returns BIP_EAGAIN saying so. The
 * caller re-reads and recognises its own write (the allocator finds its handle record), where
 * a blind resend would report its own earlier success as a lost race. When the budget runs out:
 * BIP_EAGAIN. Certificates refused either way: BIP_EPERM, at once.
 *
 * bip_store_errmsg() tells what happened last, in words.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "codec.h"
#include "etcd.h"
#include "../lock.h"
#include "../store_int.h"
#include "http.h"
#include "tls.h"

#define DEFAULT_BUDGET_MS 2000
#define ATTEMPT_MS 500
#define PAGE_LIMIT 1000
#define MAX_ENDPOINTS 16
#define HOST_MAX 255
#define PREFIX_MAX 512
#define BACKOFF_MIN_MS 25
#define BACKOFF_MAX_MS 400

/* gRPC status codes that etcd's gateway puts in error bodies. */
enum {
	GRPC_CANCELED = 1,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

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

static struct etcd *to_etcd(struct bip_store *s)
{
	return (struct etcd *)s;
}

/* --- calls, with fail-over and retries ------------------------------------------------ */

static uint64_t next_rand(struct etcd *e)
{
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return e->rng;
}

static void sleep_ms(int64_t ms)
{
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (ms > 0 && nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

struct retry {
	int64_t deadline;
	size_t failed; /* endpoints failed in this round */
	int round;
};

/* The current endpoint failed: move on; after a whole round of failures, back off. */
static void fail_over(struct etcd *e, struct retry *r)
{
	bip__http_conn_close(&e->conn);
	e->cur = (e->cur + 1) % e->neps;
	if (++r->failed < e->neps)
		return;
	r->failed = 0;
	int64_t base = BACKOFF_MIN_MS << (r->round < 4 ? r->round : 4);
	int64_t left = r->deadline - bip__http_now_ms();

	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	base = base / 2 + (int64_t)(next_rand(e) % (uint64_t)(base / 2 + 1));
	sleep_ms(base < left ? base : left);
	r->round++;
}

/* An error answer's code in store terms; *transient when another try may succeed. */
static int map_status(int status, int code, bool *transient)
{
	*transient = false;
	switch (code) {
	case GRPC_INVALID_ARGUMENT:
		return BIP_EINVAL;
	case GRPC_PERMISSION_DENIED:
	case GRPC_UNAUTHENTICATED:
		return BIP_EPERM;
	case GRPC_OUT_OF_RANGE: /* a pinned revision was compacted: start over */
		return BIP_EAGAIN;
	case GRPC_CANCELED:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_ABORTED:
	case GRPC_UNAVAILABLE:
		*transient = true;
		return BIP_EAGAIN;
	default:
		break;
	}
	if (status >= 500) {
		*transient = true;
		return BIP_EAGAIN;
	}
	return BIP_EIO;
}

/*
 * POST body to path, failing over and retrying as the file comment says (idempotent: may be
 * sent again). BIP_OK: *res is a 200 answer.
 */
static int call(struct etcd *e, const char *path, const char *body, size_t len, bool idempotent,
		struct bip_http_res *res)
{
	struct retry r = {.deadline = bip__http_now_ms() + e->budget_ms};
	char why[256] = "", last[300] = "";
	int rc, last_rc = BIP_EAGAIN;

	for (;;) {
		const struct endpoint *ep = &e->eps[e->cur];
		int64_t now = bip__http_now_ms(), left = r.deadline - now;
		bool sent = false, transient;
		int code;

		if (left <= 0)
			break;
		if (!bip__http_conn_alive(&e->conn)) {
			int64_t cdl = now + (e->attempt_ms < left ? e->attempt_ms : left);

			rc = bip__http_connect(&e->conn, ep->host, ep->port, e->tls, cdl, why,
					       sizeof(why));
			if (rc == BIP_EPERM || rc == BIP_ENOMEM || rc == BIP_EINVAL) {
				bip__store_seterr(e->errmsg, sizeof(e->errmsg), "etcd %s: %s",
						  ep->hosthdr, why);
				return rc;
			}
			if (rc != BIP_OK) {
				/* An attempt the budget cut short says less than the one before
				 * it ("timed out" after two "refused"): keep that one. */
				if (!*last || e->attempt_ms < left)
					snprintf(last, sizeof(last), "%s: %s", ep->hosthdr, why);
				last_rc = BIP_EAGAIN;
				fail_over(e, &r);
				continue;
			}
		}
		rc = bip__http_post(&e->conn, ep->hosthdr, path, body, len,
				    idempotent && e->attempt_ms < left ? e->attempt_ms : (int)left,
				    r.deadline, res, &sent, why, sizeof(why));
		if (rc == BIP_OK && res->status == 200)
			return BIP_OK;
		if (rc == BIP_EPERM || rc == BIP_ENOMEM) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg), "etcd %s: %s", ep->hosthdr,
					  why);
			return rc;
		}
		if (rc == BIP_OK) {
			char msg[200];

			bip__etcd_decode_error(res->body, res->len, &code, msg, sizeof(msg));
			rc = map_status(res->status, code, &transient);
			snprintf(why, sizeof(why), "HTTP %d: %s", res->status,
				 *msg ? msg : "(no message)");
			if (!transient || !idempotent) {
				bip__store_seterr(
				    e->errmsg, sizeof(e->errmsg), "etcd %s %s: %s%s", ep->hosthdr,
				    path, why,
				    transient ? " (the change may or may not have been applied)"
					      : "");
				return rc;
			}
			bip__http_conn_close(&e->conn);
		} else if (!idempotent && sent) {
			bip__store_seterr(
			    e->errmsg, sizeof(e->errmsg),
			    "etcd %s %s: %s; the change may or may not have been applied",
			    ep->hosthdr, path, why);
			return BIP_EAGAIN;
		}
		if (!*last || e->attempt_ms < left || rc == BIP_OK)
			snprintf(last, sizeof(last), "%s: %s", ep->hosthdr, why);
		last_rc = rc == BIP_EIO ? BIP_EIO : BIP_EAGAIN;
		fail_over(e, &r);
	}
	bip__store_seterr(e->errmsg, sizeof(e->errmsg),
			  "etcd %s: no answer to %s within %d ms (last: %s)", e->endpoints, path,
			  e->budget_ms, *last ? last : "no attempt");
	return last_rc;
}

/* --- keys ----------------------------------------------------------------------------- */

static bool key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	return n > 0 && n <= BIP_KEY_MAX;
}

/* prefix + rel into a new buffer. */
static unsigned char *abs_key(const struct etcd *e, const char *rel, size_t *len)
{
	size_t n = strlen(rel);
	unsigned char *k = malloc(e->plen + n + 1);

	if (!k)
		return NULL;
	memcpy(k, e->prefix, e->plen);
	memcpy(k + e->plen, rel, n + 1);
	*len = e->plen + n;
	return k;
}

/*
 * The end of the range of keys that start with p[0..n): p with its last byte that is not 0xff
 * incremented and the rest dropped; "\0" (no end) when every byte is 0xff. out holds n bytes.
 */
static size_t range_end(const unsigned char *p, size_t n, unsigned char *out)
{
	while (n > 0 && p[n - 1] == 0xff)
		n--;
	if (n == 0) {
		out[0] = 0;
		return 1;
	}
	memcpy(out, p, n);
	out[n - 1]++;
	return n;
}

/* The relative key of an entry, or NULL when it is not one of ours as a C string. */
static const char *rel_key(const struct etcd *e, const struct bip_etcd_kv *kv)
{
	const char *rel = (const char *)kv->key + e->plen;

	if (kv->klen <= e->plen || memcmp(kv->key, e->prefix, e->plen) != 0 ||
	    strlen(rel) != kv->klen - e->plen)
		return NULL;
	return rel;
}

/* --- get ------------------------------------------------------------------------------ */

struct get_ctx {
	const struct etcd *e;
	const char *key;
	struct bip_kv kv;
	bool found;
};

static int get_one(void *p, const struct bip_etcd_kv *kv)
{
	struct get_ctx *g = p;
	const char *rel = rel_key(g->e, kv);
	struct bip_kv src;

	if (g->found || !rel || strcmp(rel, g->key) != 0)
		return BIP_ECORRUPT;
	src = (struct bip_kv){(char *)rel, (unsigned char *)kv->value, kv->vlen, kv->mod_rev};
	if (bip_kv_copy(&g->kv, &src) != BIP_OK)
		return BIP_ENOMEM;
	g->found = true;
	return BIP_OK;
}

static int etcd_get(struct bip_store *s, const char *key, struct bip_kv *out)
{
	struct etcd *e = to_etcd(s);
	struct get_ctx g = {.e = e, .key = key};
	struct bip_etcd_range r;
	struct bip_http_res res;
	unsigned char *k = NULL;
	char *body = NULL;
	size_t klen, blen;
	int rc = BIP_EINVAL;

	e->errmsg[0] = '\0';
	if (!key_ok(key)) {
		bip__store_seterr(e->errmsg, sizeof(e->errmsg),
				  "invalid key (empty or over %d bytes)", BIP_KEY_MAX);
		goto out;
	}
	rc = BIP_ENOMEM;
	k = abs_key(e, key, &klen);
	body = k ? bip__etcd_encode_range(k, klen, NULL, 0, 0, 0, false, &blen) : NULL;
	if (!body)
		goto out;
	rc = call(e, "/v3/kv/range", body, blen, true, &res);
	if (rc != BIP_OK)
		goto out;
	rc = bip__etcd_decode_range(res.body, res.len, get_one, &g, &r);
	if (rc == BIP_ECORRUPT)
		bip__store_seterr(e->errmsg, sizeof(e->errmsg),
				  "etcd: unexpected range answer for '%s'", key);
	if (rc != BIP_OK)
		goto out;
	rc = g.found ? BIP_OK : BIP_ENOTFOUND;
	if (g.found) {
		*out = g.kv;
		g.kv = (struct bip_kv){0};
	}
out:
	bip_kv_clear(&g.kv);
	free(k);
	free(body);
	return rc;
}

/* --- list ----------------------------------------------------------------------------- */

struct list_ctx {
	const struct etcd *e;
	bip_list_fn fn;
	void *ctx;
	unsigned char *last; /* the last absolute key seen, to start the next page after it */
	size_t lastlen, lastcap;
	int user_rc;
};

static int list_one(void *p, const struct bip_etcd_kv *kv)
{
	struct list_ctx *l = p;
	const char *rel = rel_key(l->e, kv);
	struct bip_kv bk;

	if (!rel)
		return BIP_ECORRUPT;
	if (kv->klen + 1 > l->lastcap) {
		unsigned char *b = realloc(l->last, kv->klen + 1);

		if (!b)
			return BIP_ENOMEM;
		l->last = b;
		l->lastcap = kv->klen + 1;
	}
	memcpy(l->last, kv->key, kv->klen);
	l->lastlen = kv->klen;
	bk = (struct bip_kv){(char *)rel, (unsigned char *)kv->value, kv->vlen, kv->mod_rev};
	l->user_rc = l->fn(l->ctx, &bk);
	return l->user_rc;
}

/*
 * Hand the entries of [start, end) to fn in pages of PAGE_LIMIT, read at revision *rev (0: the
 * current one, which the first page pins for the next ones and *rev then holds), so the whole
 * range is one snapshot. what names the range in messages.
 */
static int range_pages(struct etcd *e, const unsigned char *start, size_t slen,
		       const unsigned char *end, size_t elen, bool keys_only, int64_t *rev,
		       bip_list_fn fn, void *ctx, const char *what)
{
	struct list_ctx l = {.e = e, .fn = fn, .ctx = ctx};
	unsigned char *next = NULL;
	int rc;

	for (;;) {
		struct bip_etcd_range r = {0};
		struct bip_http_res res;
		size_t blen;
		char *body = bip__etcd_encode_range(start, slen, end, elen, PAGE_LIMIT, *rev,
						    keys_only, &blen);

		rc = BIP_ENOMEM;
		if (!body)
			goto out;
		rc = call(e, "/v3/kv/range", body, blen, true, &res);
		free(body);
		if (rc != BIP_OK)
			goto out;
		rc = bip__etcd_decode_range(res.body, res.len, list_one, &l, &r);
		if (l.user_rc)
			goto out; /* the callback stopped the list */
		if (rc == BIP_OK && r.more && r.n == 0)
			rc = BIP_ECORRUPT;
		if (rc == BIP_ECORRUPT)
			bip__store_seterr(e->errmsg, sizeof(e->errmsg),
					  "etcd: unexpected range answer for prefix '%s'", what);
		if (rc != BIP_OK)
			goto out;
		if (!*rev)
			*rev = r.rev;
		if (!r.more)
			break;
		/* Next page: the keys after the last one, i.e. from last + "\0". */
		rc = BIP_ENOMEM;
		free(next);
		next = malloc(l.lastlen + 1);
		if (!next)
			goto out;
		memcpy(next, l.last, l.lastlen);
		next[l.lastlen] = 0;
		start = next;
		slen = l.lastlen + 1;
	}
	rc = BIP_OK;
out:
	free(next);
	free(l.last);
	return rc;
}

static int etcd_list(struct bip_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		     void *ctx, int64_t *revp)
{
	struct etcd *e = to_etcd(s);
	unsigned char *start = NULL, *end = NULL;
	size_t slen = 0, elen;
	int64_t rev = 0;
	int rc = BIP_EINVAL;

	e->errmsg[0] = '\0';
	if (!prefix || strlen(prefix) > BIP_KEY_MAX) {
		bip__store_seterr(e->errmsg, sizeof(e->errmsg),
				  "invalid list prefix (over %d bytes)", BIP_KEY_MAX);
		goto out;
	}
	rc = BIP_ENOMEM;
	start = abs_key(e, prefix, &slen);
	end = malloc(slen + 1);
	if (!start || !end)
		goto out;
	elen = range_end(start, slen, end);
	if (slen == 0) {
		/* Everything: etcd spells it key "\0", range_end "\0". */
		slen = 1;
		start[0] = 0;
	}
	rc = range_pages(e, start, slen, end, elen, flags & BIP_LIST_KEYS_ONLY, &rev, fn, ctx,
			 prefix);
	if (rc == BIP_OK && revp)
		*revp = rev;
out:
	free(start);
	free(end);
	return rc;
}

/* --- read ----------------------------------------------------------------------------- */

struct read_ctx {
	const struct etcd *e;
	const struct bip_read *reads;
	struct bip_kvs *out;
};

/* An entry of range i: the key read, or one under the prefix read. */
static int read_one(void *p, size_t i, const struct bip_etcd_kv *kv)
{
	struct read_ctx *r = p;
	const struct bip_read *rd = &r->reads[i];
	const char *rel = rel_key(r->e, kv);
	struct bip_kv bk;

	if (!rel || (rd->prefix ? strncmp(rel, rd->key, strlen(rd->key)) != 0
				: strcmp(rel, rd->key) != 0 || r->out[i].n > 0))
		return BIP_ECORRUPT;
	bk = (struct bip_kv){(char *)rel, (unsigned char *)kv->value, kv->vlen, kv->mod_rev};
	return bip_kvs_push(&r->out[i], &bk);
}

static int push_one(void *ctx, const struct bip_kv *kv)
{
	return bip_kvs_push(ctx, kv);
}

/* The rest of prefix range i, after the page the txn answered, at the txn's revision. */
static int read_more(struct etcd *e, const struct bip_read *rd, const struct bip_etcd_rangereq *q,
		     int64_t rev, struct bip_kvs *out)
{
	const char *last = out->v[out->n - 1].key;
	size_t slen;
	unsigned char *start = abs_key(e, last, &slen);
	int rc;

	if (!start)
		return BIP_ENOMEM;
	/* from last + "\0": abs_key's terminating NUL is that byte */
	rc = range_pages(e, start, slen + 1, q->end, q->elen, rd->flags & BIP_LIST_KEYS_ONLY, &rev,
			 push_one, out, rd->key);
	free(start);
	return rc;
}

/* One txn of ranges, no compares: etcd answers every range at the txn's one revision. */
static int etcd_read(struct bip_store *s, const struct bip_read *reads, size_t n,
		     struct bip_kvs *out, int64_t *revp)
{
	struct etcd *e = to_etcd(s);
	struct read_ctx ctx = {e, reads, out};
	struct bip_etcd_rangereq *q = NULL;
	struct bip_etcd_range *got = NULL;
	unsigned char **bufs = NULL;
	struct bip_http_res res;
	char *body = NULL;
	size_t blen;
	int64_t rev;
	int rc = BIP_EINVAL;

	e->errmsg[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (strlen(reads[i].key) > BIP_KEY_MAX ||
		    (!reads[i].prefix && !key_ok(reads[i].key))) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg),
					  "read: invalid key %zu (empty or over %d bytes)", i,
					  BIP_KEY_MAX);
			goto out;
		}
	rc = BIP_ENOMEM;
	q = calloc(n, sizeof(*q));
	got = calloc(n, sizeof(*got));
	bufs = calloc(n, sizeof(*bufs));
	if (!q || !got || !bufs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t klen;

		/* prefix+key, and after it room for the range end: 2 * (klen + 1) bytes */
		bufs[i] = malloc(2 * (e->plen + strlen(reads[i].key) + 1));
		if (!bufs[i])
			goto out;
		memcpy(bufs[i], e->prefix, e->plen);
		strcpy((char *)bufs[i] + e->plen, reads[i].key);
		klen = e->plen + strlen(reads[i].key);
		q[i] = (struct bip_etcd_rangereq){.key = bufs[i], .klen = klen};
		q[i].keys_only = reads[i].flags & BIP_LIST_KEYS_ONLY;
		if (!reads[i].prefix)
			continue;
		q[i].end = bufs[i] + klen + 1;
		q[i].elen = range_end(bufs[i], klen, bufs[i] + klen + 1);
		q[i].limit = PAGE_LIMIT;
		if (klen == 0)
			q[i].klen = 1; /* everything: key "\0" (the buffer's NUL), range_end "\0" */
	}
	body = bip__etcd_encode_reads(q, n, &blen);
	if (!body)
		goto out;
	rc = call(e, "/v3/kv/txn", body, blen, true, &res);
	if (rc != BIP_OK)
		goto out;
	rc = bip__etcd_decode_reads(res.body, res.len, n, read_one, &ctx, got);
	for (size_t i = 0; rc == BIP_OK && i < n; i++)
		if (got[i].more && (!reads[i].prefix || got[i].n == 0))
			rc = BIP_ECORRUPT;
	if (rc == BIP_ECORRUPT)
		bip__store_seterr(e->errmsg, sizeof(e->errmsg),
				  "etcd: unexpected txn answer to %zu reads", n);
	if (rc != BIP_OK)
		goto out;
	rev = got[0].rev;
	for (size_t i = 0; rc == BIP_OK && i < n; i++)
		if (got[i].more)
			rc = read_more(e, &reads[i], &q[i], rev, &out[i]);
	if (rc != BIP_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		out[i].rev = rev;
	if (revp)
		*revp = rev;
out:
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(q);
	free(got);
	free(body);
	return rc;
}

/* --- txn ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys valid, values not too large, no key written twice. */
static int check_txn(struct etcd *e, const struct bip_cmp *cmps, size_t ncmp,
		     const struct bip_op *ops, size_t nop)
{
	const char **keys;
	int rc = BIP_OK;

	for (size_t i = 0; i < ncmp; i++)
		if (!key_ok(cmps[i].key) || cmps[i].rev < 0) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg), "txn: invalid compare %zu",
					  i);
			return BIP_EINVAL;
		}
	for (size_t i = 0; i < nop; i++)
		if (!key_ok(ops[i].key) ||
		    (ops[i].kind != BIP_OP_PUT && ops[i].kind != BIP_OP_DEL) ||
		    (ops[i].kind == BIP_OP_PUT && ops[i].len > BIP_VALUE_MAX) ||
		    (ops[i].len && !ops[i].value && ops[i].kind == BIP_OP_PUT)) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg),
					  "txn: invalid operation %zu", i);
			return BIP_EINVAL;
		}
	if (nop < 2)
		return BIP_OK;
	keys = malloc(nop * sizeof(*keys));
	if (!keys)
		return BIP_ENOMEM;
	for (size_t i = 0; i < nop; i++)
		keys[i] = ops[i].key;
	qsort(keys, nop, sizeof(*keys), cmp_str);
	for (size_t i = 1; i < nop && rc == BIP_OK; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg),
					  "txn: key '%s' written twice", keys[i]);
			rc = BIP_EINVAL;
		}
	free(keys);
	return rc;
}

static int etcd_txn(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
		    const struct bip_op *ops, size_t nop, int64_t *revp)
{
	struct etcd *e = to_etcd(s);
	struct bip_http_res res;
	char *body = NULL;
	size_t blen;
	int64_t rev = 0;
	bool ok = false;
	int rc;

	e->errmsg[0] = '\0';
	rc = check_txn(e, cmps, ncmp, ops, nop);
	if (rc != BIP_OK)
		goto out;
	if (e->read_only) {
		bip__store_seterr(e->errmsg, sizeof(e->errmsg), "the store was opened read-only");
		rc = BIP_EPERM;
		goto out;
	}
	rc = BIP_ENOMEM;
	body = bip__etcd_encode_txn(e->prefix, cmps, ncmp, ops, nop, &blen);
	if (!body)
		goto out;
	rc = call(e, "/v3/kv/txn", body, blen, false, &res);
	if (rc != BIP_OK)
		goto out;
	rc = bip__etcd_decode_txn(res.body, res.len, &rev, &ok);
	if (rc == BIP_ECORRUPT)
		bip__store_seterr(
		    e->errmsg, sizeof(e->errmsg),
		    "etcd: unexpected txn answer (the change may or may not have been applied)");
	if (rc != BIP_OK)
		goto out;
	rc = ok ? BIP_OK : BIP_ECONFLICT;
	if (ok && revp)
		*revp = rev;
out:
	free(body);
	return rc;
}

/* --- open and close ------------------------------------------------------------------- */

static const char *etcd_errmsg(struct bip_store *s)
{
	return to_etcd(s)->errmsg;
}

/*
 * The node lock. Every plugin process of a node allocates from the node's own blocks, so with
 * etcd they all meet on one block record: 32 at once on one node lost races up to 64 times in
 * a row (make bench, 3 members: 17 of 2,000 ADDs gave up with "try again", p99 4.15 s). The
 * processes of one machine queue on an flock instead, as Calico's plugin does on its host-wide
 * IPAM lock, and hand over in the kernel's order. Other machines never see it, and correctness
 * never depends on it: the txn compares still decide. The file is
 * LOCK_DIR/etcd-<FNV-1a of endpoints, prefix and node>.lock (0600 in a 0700 directory): one per
 * node (opts->node) of a cluster and prefix, so nodes simulated on one machine (the tests) still
 * race each other through etcd as real ones do; where it cannot be made (no /run, not root)
 * there is no lock.
 *
 * The wait is bounded by the budget of one store call (opts->timeout_ms), like the SQLite writer
 * lock: a frozen holder (SIGSTOP, the cgroup freezer) keeps the lock while it is frozen, and the
 * other processes of its node then answer BIP_EAGAIN (CNI code 11) instead of waiting with it.
 * The wait is a blocking flock ended by a timer (store/lock.c), so it keeps the kernel's queue.
 */
#define LOCK_DIR "/run/blockipam"

static int open_node_lock(struct etcd *e)
{
	char path[sizeof(LOCK_DIR) + 48];
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[3] = {e->endpoints, e->prefix, e->node};
	struct stat st;
	int fd;

	for (int i = 0; i < 3; i++)
		for (const char *c = parts[i];; c++) {
			h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
			if (!*c)
				break;
		}
	if (mkdir(LOCK_DIR, 0700) != 0 && errno != EEXIST)
		return -2;
	if (lstat(LOCK_DIR, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022))
		return -2;
	e->lock_hash = h;
	snprintf(path, sizeof(path), "%s/etcd-%016llx.lock", LOCK_DIR, (unsigned long long)h);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	return fd >= 0 ? fd : -2;
}

static int etcd_lock(struct bip_store *s, bool on)
{
	struct etcd *e = to_etcd(s);
	int rc, err;

	if (e->read_only)
		return BIP_OK;
	if (e->lock_fd == -1)
		e->lock_fd = open_node_lock(e);
	if (e->lock_fd < 0)
		return BIP_OK;
	if (!on) {
		flock(e->lock_fd, LOCK_UN);
		return BIP_OK;
	}
	e->errmsg[0] = '\0';
	rc = bip__lock_wait(e->lock_fd, e->budget_ms, &err);
	if (rc == BIP_EAGAIN) {
		bip__store_seterr(
		    e->errmsg, sizeof(e->errmsg),
		    "the node lock %s/etcd-%016llx.lock (node '%s') was held by another process "
		    "for over %d ms (a stopped or stuck process of this machine?)",
		    LOCK_DIR, (unsigned long long)e->lock_hash, e->node, e->budget_ms);
		return rc;
	}
	return BIP_OK; /* held, or flock failed: no lock then, the compares still decide */
}

static void etcd_close(struct bip_store *s)
{
	struct etcd *e = to_etcd(s);

	if (!e)
		return;
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	free(e->endpoints);
	free(e->node);
	bip__http_conn_free(&e->conn); /* before the TLS context it uses */
	bip__tls_free(e->tls);
	free(e->eps);
	free(e->prefix);
	free(e);
}

static const struct bip_store_ops etcd_ops = {
    .name = "etcd",
    .get = etcd_get,
    .list = etcd_list,
    .txn = etcd_txn,
    .close = etcd_close,
    .errmsg = etcd_errmsg,
    .read = etcd_read,
    .lock = etcd_lock,
};

/* ASCII only: <ctype.h> answers by the locale, and a program that links the library may have
 * called setlocale(), where bytes above 127 can count as letters. */
static bool ascii_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool ascii_alnum(unsigned char c)
{
	return ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_xdigit(unsigned char c)
{
	return ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 1..65535, digits only, no leading zero. */
static bool port_ok(const char *s, size_t n)
{
	unsigned long v = 0;

	if (n == 0 || n > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ascii_digit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

static bool host_ok(const char *s, size_t n, bool v6)
{
	if (n == 0 || n > HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(v6 ? ascii_xdigit(c) || c == ':' || c == '.'
			 : ascii_alnum(c) || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* "host:port", "[v6]:port", or either without ":port" (etcd's 2379). */
static int parse_endpoint(const char *s, size_t n, struct endpoint *ep)
{
	const char *host = s, *port = NULL;
	size_t hlen = n, plen = 0;
	bool v6 = false;

	if (n && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (!rb)
			return BIP_EINVAL;
		v6 = true;
		host = s + 1;
		hlen = (size_t)(rb - host);
		if (rb + 1 < s + n) {
			if (rb[1] != ':')
				return BIP_EINVAL;
			port = rb + 2;
			plen = (size_t)(s + n - port);
		}
	} else {
		const char *colon = memchr(s, ':', n);

		if (colon) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
			plen = (size_t)(s + n - port);
		}
	}
	if (!host_ok(host, hlen, v6) || (port && !port_ok(port, plen)))
		return BIP_EINVAL;
	memcpy(ep->host, host, hlen);
	ep->host[hlen] = '\0';
	if (port) {
		memcpy(ep->port, port, plen);
		ep->port[plen] = '\0';
	} else {
		strcpy(ep->port, "2379");
	}
	snprintf(ep->hosthdr, sizeof(ep->hosthdr), v6 ? "[%s]:%s" : "%s:%s", ep->host, ep->port);
	return BIP_OK;
}

/*
 * The endpoint list of an etcd address: 1..MAX_ENDPOINTS of "host[:port]" or "[v6][:port]",
 * comma-separated, none empty. The one grammar: bip_store_addr_check (and through it the
 * plugin's config check and bip_store_open) and bip_etcd_open use it. eps has room for
 * MAX_ENDPOINTS (NULL: only check). err: "endpoint 'x' is not ...", without the address.
 */
static int parse_endpoints(const char *endpoints, struct endpoint *eps, size_t *neps, char *err,
			   size_t errlen)
{
	struct endpoint scratch;
	const char *p = endpoints;
	size_t n = 0;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (n == MAX_ENDPOINTS) {
			bip__store_seterr(err, errlen, "more than %d endpoints", MAX_ENDPOINTS);
			return BIP_EINVAL;
		}
		if (len == 0) {
			bip__store_seterr(err, errlen, "%s",
					  *endpoints ? "empty endpoint" : "no endpoint");
			return BIP_EINVAL;
		}
		if (parse_endpoint(p, len, eps ? &eps[n] : &scratch) != BIP_OK) {
			bip__store_seterr(
			    err, errlen,
			    "endpoint '%.*s' is not host[:port] or [v6addr][:port] (port 1-65535, "
			    "default 2379)",
			    (int)(len < 300 ? len : 300), p);
			return BIP_EINVAL;
		}
		n++;
		if (!p[len])
			break;
		p += len + 1;
	}
	if (neps)
		*neps = n;
	return BIP_OK;
}

int bip_etcd_addr_check(const char *endpoints, char *err, size_t errlen)
{
	return parse_endpoints(endpoints, NULL, NULL, err, errlen);
}

int bip_etcd_open(const char *endpoints, bool tls, const struct bip_store_opts *opts,
		  struct bip_store **out, char *err, size_t errlen)
{
	static const struct bip_store_opts none;
	const char *scheme = tls ? "etcds" : "etcd", *prefix;
	struct etcd *e = calloc(1, sizeof(*e));
	char why[400];
	int rc = BIP_ENOMEM;

	if (!opts)
		opts = &none;
	if (!e)
		goto out;
	e->base.ops = &etcd_ops;
	e->lock_fd = -1;
	bip__http_conn_init(&e->conn);
	rc = BIP_EINVAL;
	if (opts->timeout_ms < 0) {
		bip__store_seterr(err, errlen, "invalid etcd timeout %d ms", opts->timeout_ms);
		goto out;
	}
	e->budget_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_BUDGET_MS;
	e->attempt_ms = e->budget_ms < ATTEMPT_MS ? e->budget_ms : ATTEMPT_MS;
	e->read_only = opts->read_only;
	prefix = opts->prefix && *opts->prefix ? opts->prefix : BIP_STORE_DEFAULT_PREFIX;
	if (strlen(prefix) > PREFIX_MAX) {
		bip__store_seterr(err, errlen, "etcd key prefix longer than %d bytes", PREFIX_MAX);
		goto out;
	}
	rc = BIP_ENOMEM;
	e->prefix = strdup(prefix);
	e->endpoints = strdup(endpoints);
	e->node = strdup(opts->node ? opts->node : "");
	e->eps = calloc(MAX_ENDPOINTS, sizeof(*e->eps));
	if (!e->prefix || !e->endpoints || !e->node || !e->eps)
		goto out;
	e->plen = strlen(prefix);
	rc = parse_endpoints(endpoints, e->eps, &e->neps, why, sizeof(why));
	if (rc != BIP_OK) {
		bip__store_seterr(err, errlen, "invalid store address '%s://%s': %s", scheme,
				  endpoints, why);
		goto out;
	}
	rc = BIP_EINVAL;
	if (tls) {
		const char *ca = opts->ca_file && *opts->ca_file ? opts->ca_file : NULL;
		const char *cert = opts->cert_file && *opts->cert_file ? opts->cert_file : NULL;
		const char *key = opts->key_file && *opts->key_file ? opts->key_file : NULL;

		if (!cert != !key) {
			bip__store_seterr(err, errlen,
					  "etcds://: a client certificate needs its key (cert_file "
					  "and key_file go together)");
			goto out;
		}
		rc = bip__tls_new(ca, cert, key, &e->tls, err, errlen);
		if (rc != BIP_OK)
			goto out;
	}
	/* Processes spread over the endpoints; each then stays on one while it answers. */
	e->rng = (uint64_t)getpid() << 32 ^ (uint64_t)bip__http_now_ms() ^ (uint64_t)(uintptr_t)e;
	e->rng |= 1;
	e->cur = (size_t)(next_rand(e) % e->neps);
	rc = BIP_OK;
out:
	if (rc != BIP_OK) {
		etcd_close(e ? &e->base : NULL);
		e = NULL;
	}
	*out = e ? &e->base : NULL;
	return rc;
}

void bip__etcd_stats(struct bip_store *s, struct bip__etcd_stats *out)
{
	struct etcd *e = to_etcd(s);

	*out = (struct bip__etcd_stats){0};
	if (s && s->ops == &etcd_ops) {
		out->requests = e->conn.requests;
		out->connects = e->conn.connects;
	}
}
