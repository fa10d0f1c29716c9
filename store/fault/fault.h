/*
 * A store that breaks on purpose, for tests: it wraps any struct bip_store, counts the
 * operations that go through it, and makes the nth one fail in a chosen way. A test loops
 * nth = 1, 2, ... until an operation completes without the fault firing, and checks the
 * invariants after every run (SQLite's "How SQLite Is Tested", I/O error testing).
 *
 * Ownership: bip_fault_wrap() returns a new store; bip_store_close() on it frees the wrapper
 * only. The inner store stays the caller's and must outlive the wrapper.
 */
#ifndef BIP_STORE_FAULT_H
#define BIP_STORE_FAULT_H

#include "blockipam/store.h"

/* Operations a plan counts (a mask). */
#define BIP_FAULT_GET 1u
#define BIP_FAULT_LIST 2u
#define BIP_FAULT_TXN 4u
#define BIP_FAULT_READ 8u /* batch reads (bip_store_read) */
#define BIP_FAULT_ALL (BIP_FAULT_GET | BIP_FAULT_LIST | BIP_FAULT_TXN | BIP_FAULT_READ)

enum bip_fault_mode {
	BIP_FAULT_OFF,
	BIP_FAULT_FAIL,	      /* the nth op returns err and does nothing (any op) */
	BIP_FAULT_CONFLICT,   /* the nth txn returns BIP_ECONFLICT and applies nothing (txns
			       * without compares cannot lose a race: they are not counted) */
	BIP_FAULT_LOST_REPLY, /* the nth txn applies, yet the caller gets err: a write that timed
			       * out after the store did it */
	BIP_FAULT_LIST_HALF,  /* the nth list hands over the first half of its entries (rounded
			       * down), then returns err (a batch read hands over all or nothing:
			       * FAIL is its broken connection) */
	BIP_FAULT_DOWN,	      /* the nth op and every later one return err (the store went away) */
	BIP_FAULT_BEFORE,     /* the nth op runs plan.before(plan.ctx) first, then passes through:
			       * another client's write landing between a caller's read and its
			       * commit (the hook writes to the inner store, not through s) */
};

struct bip_fault_plan {
	enum bip_fault_mode mode;
	unsigned long nth;    /* 1 = the first counted op; 0 = never */
	int err;	      /* what the caller gets: BIP_EIO, BIP_EAGAIN, BIP_ETIMEDOUT, ...
			       * (BIP_FAULT_CONFLICT always gives BIP_ECONFLICT) */
	unsigned ops;	      /* BIP_FAULT_* ops counted; 0 = those the mode applies to: every op
			       * for FAIL and DOWN, txns for CONFLICT and LOST_REPLY, lists for
			       * LIST_HALF. A batch read counts as one op: it is one request. */
	unsigned long repeat; /* counted ops that fail from the nth on: 0 or 1 = the nth only,
			       * ULONG_MAX = all (a store that loses every race) */
	void (*before)(void *ctx); /* BIP_FAULT_BEFORE */
	void *ctx;
};

/* Wrap inner (BIP_ENOMEM, BIP_EINVAL). A new wrapper is off: every op passes through. Its
 * bip_store_errmsg() after an injected failure names the error and the op ("fault store: EIO
 * injected at op 3"), as a real store's words would; else it is the inner store's. */
int bip_fault_wrap(struct bip_store *inner, struct bip_store **out);
/* Set the plan (NULL = off) and reset the counters. s must come from bip_fault_wrap(). */
void bip_fault_arm(struct bip_store *s, const struct bip_fault_plan *plan);
/* Ops counted by the plan since it was armed, and faults injected (calls that failed). */
unsigned long bip_fault_counted(const struct bip_store *s);
unsigned long bip_fault_injected(const struct bip_store *s);
/* Every op seen since the plan was armed, counted or not, by kind (BIP_FAULT_GET, ...). */
unsigned long bip_fault_seen(const struct bip_store *s, unsigned kind);

#endif
