/*
 * The fault-injecting store (fault.h). Every call is passed to the inner store unless the plan
 * says this is the call that fails. A fault never half-applies a txn: it is either not sent at
 * all (FAIL, CONFLICT, DOWN) or sent whole and its reply replaced (LOST_REPLY), the two things
 * a caller of a real store can see. A half list delivers a prefix of the real entries, in
 * order, as a connection that drops mid-stream does.
 */
#include <stdio.h>
#include <stdlib.h>

#include "blockipam/err.h"
#include "fault.h"

struct fault_store {
	struct bip_store base;
	struct bip_store *inner;
	struct bip_fault_plan plan;
	unsigned long counted, injected;
	unsigned long seen[4]; /* get, list, txn, read */
	bool down;
	char msg[96]; /* the last op's injected failure, in words; "" when it had none */
};

static const struct bip_store_ops fault_ops;

static struct fault_store *fs_of(const struct bip_store *s)
{
	return s && s->ops == &fault_ops ? (struct fault_store *)s : NULL;
}

static unsigned default_ops(enum bip_fault_mode m)
{
	switch (m) {
	case BIP_FAULT_CONFLICT:
	case BIP_FAULT_LOST_REPLY:
		return BIP_FAULT_TXN;
	case BIP_FAULT_LIST_HALF:
		return BIP_FAULT_LIST;
	default:
		return BIP_FAULT_ALL;
	}
}

static int kind_index(unsigned kind)
{
	switch (kind) {
	case BIP_FAULT_GET:
		return 0;
	case BIP_FAULT_LIST:
		return 1;
	case BIP_FAULT_TXN:
		return 2;
	default:
		return 3;
	}
}

static int fault_err(const struct fault_store *f)
{
	return f->plan.err ? f->plan.err : BIP_EIO;
}

/* Whether this call (of kind) is one that fails. A call that cannot fail this way (a txn
 * without compares cannot lose a race) is not counted. A BEFORE plan runs its hook here and
 * lets the call through. */
static bool fires(struct fault_store *f, unsigned kind, bool can)
{
	unsigned mask = f->plan.ops ? f->plan.ops : default_ops(f->plan.mode);

	f->seen[kind_index(kind)]++;
	f->msg[0] = '\0';
	if (f->down)
		goto fail;
	if (f->plan.mode == BIP_FAULT_OFF || !(mask & kind) || !can)
		return false;
	if (++f->counted < f->plan.nth || f->plan.nth == 0)
		return false;
	if (f->counted - f->plan.nth >= (f->plan.repeat ? f->plan.repeat : 1))
		return false;
	if (f->plan.mode == BIP_FAULT_BEFORE) {
		f->injected++;
		if (f->plan.before)
			f->plan.before(f->plan.ctx);
		return false;
	}
	if (f->plan.mode == BIP_FAULT_DOWN)
		f->down = true;
fail:
	if (f->plan.mode != BIP_FAULT_CONFLICT)
		snprintf(f->msg, sizeof(f->msg), "fault store: %s injected at op %lu%s",
			 bip_errname(fault_err(f)), f->counted,
			 f->plan.mode == BIP_FAULT_LOST_REPLY ? " (its change was applied)" : "");
	return true;
}

static int fault_get(struct bip_store *s, const char *key, struct bip_kv *out)
{
	struct fault_store *f = (struct fault_store *)s;

	if (fires(f, BIP_FAULT_GET, true)) {
		f->injected++;
		return fault_err(f);
	}
	return bip_store_get(f->inner, key, out);
}

struct half {
	bip_list_fn fn;
	void *ctx;
	size_t left;  /* entries still to hand over */
	bool stopped; /* the wrapper, not the caller, ended the list */
};

static int half_one(void *ctx, const struct bip_kv *kv)
{
	struct half *h = ctx;

	if (h->left == 0) {
		h->stopped = true;
		return 1;
	}
	h->left--;
	return h->fn(h->ctx, kv);
}

static int count_one(void *ctx, const struct bip_kv *kv)
{
	(void)kv;
	(*(size_t *)ctx)++;
	return 0;
}

static int fault_list(struct bip_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		      void *ctx, int64_t *rev)
{
	struct fault_store *f = (struct fault_store *)s;
	struct half h = {fn, ctx, 0, false};
	size_t n = 0;
	int64_t r;
	int rc;

	if (!fires(f, BIP_FAULT_LIST, true))
		return bip_store_list_cb(f->inner, prefix, flags, fn, ctx, rev);
	f->injected++;
	if (f->plan.mode != BIP_FAULT_LIST_HALF)
		return fault_err(f);
	rc = bip_store_list_cb(f->inner, prefix, BIP_LIST_KEYS_ONLY, count_one, &n, &r);
	if (rc != BIP_OK)
		return rc;
	h.left = n / 2;
	rc = bip_store_list_cb(f->inner, prefix, flags, half_one, &h, &r);
	if (rc != BIP_OK && !h.stopped)
		return rc; /* the caller's callback stopped it, or the inner store failed */
	return fault_err(f);
}

static int fault_txn(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
		     const struct bip_op *ops, size_t nop, int64_t *rev)
{
	struct fault_store *f = (struct fault_store *)s;
	int64_t r;

	if (!fires(f, BIP_FAULT_TXN, ncmp > 0 || f->plan.mode != BIP_FAULT_CONFLICT))
		return bip_store_txn(f->inner, cmps, ncmp, ops, nop, rev);
	f->injected++;
	if (f->down)
		return fault_err(f);
	switch (f->plan.mode) {
	case BIP_FAULT_CONFLICT:
		return BIP_ECONFLICT;
	case BIP_FAULT_LOST_REPLY:
		/* Whatever the store did (applied, conflict, error), the reply is lost. */
		(void)bip_store_txn(f->inner, cmps, ncmp, ops, nop, &r);
		return fault_err(f);
	default:
		return fault_err(f);
	}
}

/* A read that fails is not sent (a broken connection loses the answer whole either way). */
static int fault_read(struct bip_store *s, const struct bip_read *reads, size_t n,
		      struct bip_kvs *out, int64_t *rev)
{
	struct fault_store *f = (struct fault_store *)s;

	if (!fires(f, BIP_FAULT_READ, true))
		return bip_store_read(f->inner, reads, n, out, rev);
	f->injected++;
	return fault_err(f);
}

static const char *fault_errmsg(struct bip_store *s)
{
	struct fault_store *f = (struct fault_store *)s;

	return f->msg[0] ? f->msg : bip_store_errmsg(f->inner);
}

static void fault_close(struct bip_store *s)
{
	free(s); /* the inner store stays the caller's */
}

static const struct bip_store_ops fault_ops = {
    .name = "fault",
    .get = fault_get,
    .list = fault_list,
    .txn = fault_txn,
    .close = fault_close,
    .read = fault_read,
    .errmsg = fault_errmsg,
};

int bip_fault_wrap(struct bip_store *inner, struct bip_store **out)
{
	struct fault_store *f;

	if (!inner || !out)
		return BIP_EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return BIP_ENOMEM;
	f->base.ops = &fault_ops;
	f->inner = inner;
	*out = &f->base;
	return BIP_OK;
}

void bip_fault_arm(struct bip_store *s, const struct bip_fault_plan *plan)
{
	struct fault_store *f = fs_of(s);

	if (!f)
		return;
	f->plan = plan ? *plan : (struct bip_fault_plan){0};
	f->counted = 0;
	f->injected = 0;
	f->seen[0] = f->seen[1] = f->seen[2] = f->seen[3] = 0;
	f->down = false;
}

unsigned long bip_fault_counted(const struct bip_store *s)
{
	const struct fault_store *f = fs_of(s);

	return f ? f->counted : 0;
}

unsigned long bip_fault_injected(const struct bip_store *s)
{
	const struct fault_store *f = fs_of(s);

	return f ? f->injected : 0;
}

unsigned long bip_fault_seen(const struct bip_store *s, unsigned kind)
{
	const struct fault_store *f = fs_of(s);

	if (!f || (kind != BIP_FAULT_GET && kind != BIP_FAULT_LIST && kind != BIP_FAULT_TXN &&
		   kind != BIP_FAULT_READ))
		return 0;
	return f->seen[kind_index(kind)];
}
