/*
 * The helpers every backend and every caller of the store share: the error text of a failed
 * open (bip__store_seterr, store_int.h), closing a store and its last
 * error, the owned entries (bip_kv, bip_kvs), the collected list, and bip_store_read's fallback
 * for a backend without a batch read. Nothing here knows a backend: the registry that opens one
 * by its address is store/store.c, which the backends never call.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "store_int.h"

void bip__store_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void bip_store_close(struct bip_store *s)
{
	if (s)
		s->ops->close(s);
}

const char *bip_store_errmsg(struct bip_store *s)
{
	const char *m = s && s->ops->errmsg ? s->ops->errmsg(s) : NULL;

	return m ? m : "";
}

void bip_kv_clear(struct bip_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	kv->key = NULL;
	kv->value = NULL;
	kv->len = 0;
	kv->rev = 0;
}

int bip_kv_copy(struct bip_kv *dst, const struct bip_kv *src)
{
	struct bip_kv kv = {.len = src->len, .rev = src->rev};

	kv.key = strdup(src->key);
	kv.value = malloc(src->len + 1);
	if (!kv.key || !kv.value) {
		bip_kv_clear(&kv);
		return BIP_ENOMEM;
	}
	if (src->len)
		memcpy(kv.value, src->value, src->len);
	kv.value[src->len] = '\0';
	*dst = kv;
	return BIP_OK;
}

void bip_kvs_free(struct bip_kvs *kvs)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < kvs->n; i++)
		bip_kv_clear(&kvs->v[i]);
	free(kvs->v);
	kvs->v = NULL;
	kvs->n = 0;
}

int bip_kvs_push(struct bip_kvs *kvs, const struct bip_kv *kv)
{
	size_t n = kvs->n;

	/* The capacity is implied by n: 16, then doubled each time n reaches a power of two. */
	if (n == 0 || (n >= 16 && (n & (n - 1)) == 0)) {
		size_t cap = n ? n * 2 : 16;
		struct bip_kv *v = realloc(kvs->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		kvs->v = v;
	}
	if (bip_kv_copy(&kvs->v[n], kv) != BIP_OK)
		return BIP_ENOMEM;
	kvs->n++;
	return BIP_OK;
}

static int collect_one(void *ctx, const struct bip_kv *kv)
{
	return bip_kvs_push(ctx, kv);
}

int bip_store_list(struct bip_store *s, const char *prefix, unsigned flags, struct bip_kvs *out)
{
	struct bip_kvs kvs = {0};
	int rc = s->ops->list(s, prefix, flags, collect_one, &kvs, &kvs.rev);

	if (rc != BIP_OK) {
		bip_kvs_free(&kvs);
		return rc;
	}
	*out = kvs;
	return BIP_OK;
}

/* --- the batch read without a backend op ------------------------------------------------ */

/* Whole batches read again before the fallback gives up on a store that keeps changing. */
#define READ_TRIES 16

/* The store revision now, by a keys-only list of key (as a prefix: cheap for any key). */
static int probe_rev(struct bip_store *s, const char *key, int64_t *rev)
{
	struct bip_kvs kvs = {0};
	int rc = bip_store_list(s, key, BIP_LIST_KEYS_ONLY, &kvs);

	*rev = kvs.rev;
	bip_kvs_free(&kvs);
	return rc;
}

/* One entry by get: 0 or 1 entries, without the value when keys only. */
static int read_key(struct bip_store *s, const struct bip_read *r, struct bip_kvs *out)
{
	struct bip_kv kv = {0};
	int rc = bip_store_get(s, r->key, &kv);

	if (rc == BIP_ENOTFOUND)
		return BIP_OK;
	if (rc != BIP_OK)
		return rc;
	if (r->flags & BIP_LIST_KEYS_ONLY) {
		kv.value[0] = '\0';
		kv.len = 0;
	}
	out->v = malloc(16 * sizeof(*out->v)); /* the capacity bip_kvs_push expects of n = 1 */
	if (!out->v) {
		bip_kv_clear(&kv);
		return BIP_ENOMEM;
	}
	out->v[0] = kv;
	out->n = 1;
	return BIP_OK;
}

/*
 * Gets and lists bracketed by lists: when the first and the last list say the same revision,
 * nothing changed in between (every change moves the revision), so every answer is the store
 * at that revision. The entries are read in an order that puts lists at both ends (the first
 * prefix entry, the keys, the other prefix entries); a probe (a keys-only list of a key read,
 * as a prefix: cheap) stands in for a missing end.
 */
static int read_fallback(struct bip_store *s, const struct bip_read *reads, size_t n,
			 struct bip_kvs *out, int64_t *revp)
{
	size_t order[BIP_READ_MAX], nord = 0, nkeys = 0, nlists;
	const char *probe = NULL;
	int rc = BIP_EAGAIN;

	for (size_t i = 0; i < n; i++)
		if (reads[i].prefix && nord == 0)
			order[nord++] = i;
	for (size_t i = 0; i < n; i++)
		if (!reads[i].prefix) {
			order[nord++] = i;
			probe = probe ? probe : reads[i].key;
			nkeys++;
		}
	for (size_t i = 0; i < n; i++)
		if (reads[i].prefix && i != order[0])
			order[nord++] = i;
	nlists = n - nkeys;
	for (int t = 0; t < READ_TRIES; t++) {
		int64_t r0 = 0, r = 0;
		bool first = true, same = true;
		size_t k = 0;

		rc = BIP_OK;
		if (nlists == 0) {
			rc = probe_rev(s, probe, &r0);
			first = false;
		}
		for (; k < nord && rc == BIP_OK; k++) {
			const struct bip_read *e = &reads[order[k]];

			if (!e->prefix) {
				rc = read_key(s, e, &out[order[k]]);
				continue;
			}
			rc = bip_store_list(s, e->key, e->flags, &out[order[k]]);
			r = out[order[k]].rev;
			if (rc == BIP_OK && first)
				r0 = r;
			first = false;
			same &= rc != BIP_OK || r == r0;
		}
		if (rc == BIP_OK && nkeys && nlists < 2) {
			rc = probe_rev(s, probe, &r);
			same &= r == r0;
		}
		if (rc == BIP_OK && same) {
			for (size_t i = 0; i < n; i++)
				out[i].rev = r0;
			if (revp)
				*revp = r0;
			return BIP_OK;
		}
		for (size_t j = 0; j < k; j++)
			bip_kvs_free(&out[order[j]]);
		if (rc != BIP_OK)
			return rc;
		rc = BIP_EAGAIN;
	}
	return rc;
}

int bip_store_read(struct bip_store *s, const struct bip_read *reads, size_t n, struct bip_kvs *out,
		   int64_t *rev)
{
	struct bip_kvs *tmp;
	int rc;

	if (!reads || !out || n == 0 || n > BIP_READ_MAX)
		return BIP_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!reads[i].key || (!reads[i].prefix && !*reads[i].key))
			return BIP_EINVAL;
	tmp = calloc(n, sizeof(*tmp));
	if (!tmp)
		return BIP_ENOMEM;
	if (s->ops->read)
		rc = s->ops->read(s, reads, n, tmp, rev);
	else
		rc = read_fallback(s, reads, n, tmp, rev);
	if (rc == BIP_OK)
		memcpy(out, tmp, n * sizeof(*out));
	free(tmp);
	return rc;
}
