/*
 * What the etcd backend shows to tests and benchmarks beyond the store interface.
 * Internal to store/etcd (and its tests).
 */
#ifndef BIP_STORE_ETCD_ETCD_H
#define BIP_STORE_ETCD_ETCD_H

#include <stdint.h>

#include "blockipam/store.h"

struct bip__etcd_stats {
	uint64_t requests; /* HTTP requests sent */
	uint64_t connects; /* connections made (TLS handshakes included) */
};

/* Counters of an etcd store since it was opened (zeros for another backend). */
void bip__etcd_stats(struct bip_store *s, struct bip__etcd_stats *out);

#endif
