/*
 * The transaction builder and the retry loop every read-modify-write in the library goes
 * through (txn.h). An attempt reads, decides, and commits one transaction conditioned on every
 * record it read being unchanged; a lost race throws the attempt away and bip__retry starts it
 * again after a backoff, so no write is ever based on a stale read.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "txn.h"

int bip__txn_init(struct bip_ipam *ip, struct bip__txn *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	if (max == 0)
		max = 1;
	t->cmps = bip__im_calloc(ip, max, sizeof(*t->cmps));
	t->ops = bip__im_calloc(ip, max, sizeof(*t->ops));
	t->keys = bip__im_calloc(ip, max * 2, sizeof(char *));
	t->vals = bip__im_calloc(ip, max, sizeof(char *));
	if (!t->cmps || !t->ops || !t->keys || !t->vals)
		return t->err = BIP_ENOMEM;
	t->capcmp = t->capop = t->capvals = max;
	t->capkeys = max * 2;
	return BIP_OK;
}

void bip__txn_clear(struct bip__txn *t)
{
	for (size_t i = 0; i < t->nkeys; i++)
		free(t->keys[i]);
	for (size_t i = 0; i < t->nvals; i++)
		free(t->vals[i]);
	free(t->keys);
	free(t->vals);
	free(t->cmps);
	free(t->ops);
	memset(t, 0, sizeof(*t));
}

/* Make room for one more of n elements of size sz in *v (capacity *cap); false: out of memory. */
static bool grow(struct bip_ipam *ip, void **v, size_t n, size_t *cap, size_t sz)
{
	size_t ncap = *cap ? *cap * 2 : 4;
	void *p;

	if (n < *cap)
		return true;
	p = bip__im_realloc(ip, *v, ncap * sz);
	if (!p)
		return false;
	*v = p;
	*cap = ncap;
	return true;
}

const char *bip__txn_key(struct bip_ipam *ip, struct bip__txn *t, const char *key)
{
	char *k;

	if (!grow(ip, (void **)&t->keys, t->nkeys, &t->capkeys, sizeof(char *))) {
		t->err = BIP_ENOMEM;
		return NULL;
	}
	k = bip__im_strdup(ip, key);
	if (k)
		t->keys[t->nkeys++] = k;
	else
		t->err = BIP_ENOMEM;
	return k;
}

void bip__txn_cmp(struct bip_ipam *ip, struct bip__txn *t, const char *key, int64_t rev)
{
	if (!key || !grow(ip, (void **)&t->cmps, t->ncmp, &t->capcmp, sizeof(*t->cmps))) {
		t->err = BIP_ENOMEM;
		return;
	}
	t->cmps[t->ncmp++] = (struct bip_cmp){key, rev};
}

void bip__txn_put(struct bip_ipam *ip, struct bip__txn *t, const char *key, char *val, size_t len)
{
	if (!grow(ip, (void **)&t->vals, t->nvals, &t->capvals, sizeof(char *))) {
		free(val);
		t->err = BIP_ENOMEM;
		return;
	}
	t->vals[t->nvals++] = val;
	if (!key || !val || !grow(ip, (void **)&t->ops, t->nop, &t->capop, sizeof(*t->ops))) {
		t->err = BIP_ENOMEM;
		return;
	}
	t->ops[t->nop++] = (struct bip_op){BIP_OP_PUT, key, val, len};
}

void bip__txn_del(struct bip_ipam *ip, struct bip__txn *t, const char *key)
{
	if (!key || !grow(ip, (void **)&t->ops, t->nop, &t->capop, sizeof(*t->ops))) {
		t->err = BIP_ENOMEM;
		return;
	}
	t->ops[t->nop++] = (struct bip_op){BIP_OP_DEL, key, NULL, 0};
}

int bip__txn_commit(struct bip_ipam *ip, struct bip__txn *t, int64_t *rev)
{
	if (t->err != BIP_OK)
		return t->err;
	return bip__store_txn(ip, t->cmps, t->ncmp, t->ops, t->nop, rev);
}

/* Microseconds on the monotonic clock: how long a lost attempt took sets its backoff. */
static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int bip__retry(struct bip_ipam *ip, int (*once)(struct bip_ipam *ip, void *ctx), void *ctx,
	       const char *what)
{
	for (int attempt = 0; attempt < BIP__RETRY_BUDGET; attempt++) {
		int64_t t0 = mono_us();
		int rc = once(ip, ctx);

		if (rc != BIP_ECONFLICT)
			return rc;
		ip->retries++;
		bip__backoff_after(ip, attempt, mono_us() - t0);
	}
	return bip__seterr(ip, BIP_EAGAIN, "gave up after %d lost races for %s", BIP__RETRY_BUDGET,
			   what);
}
