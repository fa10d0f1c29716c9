/*
 * Read-modify-write, the library's one way to change the store: a transaction builder that
 * collects compares and operations (owning the keys and values it is given), and a retry helper
 * that runs one attempt after another until one does not lose a race. Private to lib/.
 */
#ifndef BIP_LIB_TXN_H
#define BIP_LIB_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "blockipam/store.h"

struct bip_ipam;

/* The retry budget: past this many lost races an operation answers BIP_EAGAIN. */
#define BIP__RETRY_BUDGET 64

/*
 * One store transaction being built. bip__txn_init sizes it for max compares and max operations;
 * it grows past that when needed. A failed growth is remembered and answered by bip__txn_commit
 * (BIP_ENOMEM), so adding a compare or an operation needs no check of its own. Always
 * bip__txn_clear it, even after a failed bip__txn_init.
 */
struct bip__txn {
	struct bip_cmp *cmps;
	struct bip_op *ops;
	size_t ncmp, nop, capcmp, capop;
	char **keys; /* owned: each key bip__txn_key copied */
	char **vals; /* owned: each value handed to bip__txn_put */
	size_t nkeys, nvals, capkeys, capvals;
	int err; /* BIP_OK, or the first failure while building */
};

int bip__txn_init(struct bip_ipam *ip, struct bip__txn *t, size_t max);
void bip__txn_clear(struct bip__txn *t);
/* A copy of key owned by t, for the compares and operations; NULL when out of memory. */
const char *bip__txn_key(struct bip_ipam *ip, struct bip__txn *t, const char *key);
/* Commit only if key is at revision rev (0: key must not exist). */
void bip__txn_cmp(struct bip_ipam *ip, struct bip__txn *t, const char *key, int64_t rev);
/* Put val (len bytes, malloc'd; t owns it from here, even on failure) at key. */
void bip__txn_put(struct bip_ipam *ip, struct bip__txn *t, const char *key, char *val, size_t len);
void bip__txn_del(struct bip_ipam *ip, struct bip__txn *t, const char *key);
/*
 * Run the transaction: BIP_OK, BIP_ECONFLICT (a compare failed: someone else wrote first), or
 * the store's error. *rev (may be NULL) gets the revision the commit made. The error message is
 * the caller's to set.
 */
int bip__txn_commit(struct bip_ipam *ip, struct bip__txn *t, int64_t *rev);

/*
 * Run once(ip, ctx) until it answers something other than BIP_ECONFLICT, backing off after each
 * lost race (jittered, scaled to how long the attempt took) and counting it in the handle's
 * retries. Past BIP__RETRY_BUDGET lost races: BIP_EAGAIN, "gave up after N lost races for
 * <what>". once() holds whatever lock it needs and frees what it made, win or lose.
 */
int bip__retry(struct bip_ipam *ip, int (*once)(struct bip_ipam *ip, void *ctx), void *ctx,
	       const char *what);

#endif
