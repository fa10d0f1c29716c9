/*
 * The etcd backend's reads: get, list and read, each one snapshot.
 *
 *   get(key)       range on prefix+key
 *   list(p)        range [prefix+p, prefix+p with its last byte + 1), in pages of PAGE_LIMIT;
 *                  the first page's header revision is pinned for the next pages, so the whole
 *                  list is one snapshot and that revision is the list's revision
 *   read(entries)  one txn without compares whose success ops are ranges (a key, or a prefix
 *                  in pages of PAGE_LIMIT): one request, one revision for all; a prefix with
 *                  more than a page goes on by range requests pinned at that revision. Sent
 *                  again as freely as a get: it writes nothing.
 *
 * Keys are the store's relative keys under the store's prefix; an answer that holds any other
 * key is BIP_ECORRUPT.
 */
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "codec.h"
#include "etcd_int.h"
#include "../store_int.h"
#include "http.h"

/* --- keys ----------------------------------------------------------------------------- */

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

int bip__etcd_get(struct bip_store *s, const char *key, struct bip_kv *out)
{
	struct etcd *e = bip__to_etcd(s);
	struct get_ctx g = {.e = e, .key = key};
	struct bip_etcd_range r;
	struct bip_http_res res;
	unsigned char *k = NULL;
	char *body = NULL;
	size_t klen, blen;
	int rc = BIP_EINVAL;

	e->errmsg[0] = '\0';
	if (!bip__etcd_key_ok(key)) {
		bip__store_seterr(e->errmsg, sizeof(e->errmsg),
				  "invalid key (empty or over %d bytes)", BIP_KEY_MAX);
		goto out;
	}
	rc = BIP_ENOMEM;
	k = abs_key(e, key, &klen);
	body = k ? bip__etcd_encode_range(k, klen, NULL, 0, 0, 0, false, &blen) : NULL;
	if (!body)
		goto out;
	rc = bip__etcd_call(e, "/v3/kv/range", body, blen, true, &res);
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
		rc = bip__etcd_call(e, "/v3/kv/range", body, blen, true, &res);
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

int bip__etcd_list(struct bip_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		   void *ctx, int64_t *revp)
{
	struct etcd *e = bip__to_etcd(s);
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

/*
 * The ranges of reads[0..n) into q, each over a new buffer bufs[i] (the caller frees them, also
 * after a failure): prefix+key, and after it room for the range end, 2 * (klen + 1) bytes.
 */
static int read_ranges(const struct etcd *e, const struct bip_read *reads, size_t n,
		       struct bip_etcd_rangereq *q, unsigned char **bufs)
{
	for (size_t i = 0; i < n; i++) {
		size_t klen = e->plen + strlen(reads[i].key);

		bufs[i] = malloc(2 * (klen + 1));
		if (!bufs[i])
			return BIP_ENOMEM;
		memcpy(bufs[i], e->prefix, e->plen);
		strcpy((char *)bufs[i] + e->plen, reads[i].key);
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
	return BIP_OK;
}

/* One txn of ranges, no compares: etcd answers every range at the txn's one revision. */
int bip__etcd_read(struct bip_store *s, const struct bip_read *reads, size_t n, struct bip_kvs *out,
		   int64_t *revp)
{
	struct etcd *e = bip__to_etcd(s);
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
		    (!reads[i].prefix && !bip__etcd_key_ok(reads[i].key))) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg),
					  "read: invalid key %zu (empty or over %d bytes)", i,
					  BIP_KEY_MAX);
			goto out;
		}
	rc = BIP_ENOMEM;
	q = calloc(n, sizeof(*q));
	got = calloc(n, sizeof(*got));
	bufs = calloc(n, sizeof(*bufs));
	if (!q || !got || !bufs || read_ranges(e, reads, n, q, bufs) != BIP_OK)
		goto out;
	body = bip__etcd_encode_reads(q, n, &blen);
	if (!body)
		goto out;
	rc = bip__etcd_call(e, "/v3/kv/txn", body, blen, true, &res);
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
