/*
 * The decoders of stored records. A store may hold anything (a crash of another tool, a hand
 * edit, another program's keys), so every decoder must reject garbage with BIP_ECORRUPT and
 * never crash, leak or read past the value. What a decoder accepts must encode, decode again,
 * and encode to the same text (the encoders are canonical), and a decoded block must obey its
 * invariants. A broken rule aborts, which libFuzzer reports as a crash.
 *
 * Input: the first byte picks the kind of record (low 3 bits) and a name variant (the rest);
 * the other bytes are the value, not NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

enum kind { BLOCK, HANDLE, POOL, CONFIG, RESERVATION, NODE, NAMESPACE, AFFINITY };

/* Handle ids with and without the "<network>.<container>.<ifname>" shape. */
static const char *const handle_ids[] = {"net.c1.eth0", "h1", "k8s-pod-network.abc.net1",
					 "a.b.c.d", "x..eth0"};

static void check_block(const struct blk *b)
{
	uint32_t used = 0;

	check(bip_addr_bits(b->cidr.addr) - b->cidr.len <= 16);
	check(b->size == 1u << (bip_addr_bits(b->cidr.addr) - b->cidr.len));
	check(b->nfreed <= b->size);
	for (uint32_t o = 0; o < b->size; o++) {
		used += b->handle[o] != NULL;
		check(!b->holder[o] || b->handle[o]);
		check(!(b->handle[o] && b->inq[o]));
	}
	check(used == b->used);
	for (uint32_t i = 0; i < b->nfreed; i++)
		check(b->freed[i] < b->size && b->inq[b->freed[i]] && !b->handle[b->freed[i]]);
}

/* Decode v as kind k and encode it again; NULL when it does not decode. */
static char *reencode(enum kind k, const char *name, const unsigned char *v, size_t len)
{
	size_t n = 0;
	char *enc = NULL;
	int rc;

	switch (k) {
	case BLOCK: {
		struct blk *b = NULL;

		rc = blk_decode(NULL, NULL, v, len, 1, &b);
		if (rc == BIP_OK) {
			check_block(b);
			enc = blk_encode(NULL, b, &n);
		}
		blk_free(b);
		break;
	}
	case HANDLE: {
		struct bip_handle_info h = {0};

		rc = handle_decode(NULL, name, v, len, &h);
		if (rc == BIP_OK) {
			check(h.naddrs <= HANDLE_MAX_ADDRS && strcmp(h.id, name) == 0);
			enc = handle_encode(NULL, &h, &n);
		}
		bip_handle_info_clear(&h);
		break;
	}
	case POOL: {
		struct bip_pool p = {0};

		rc = pool_decode(NULL, name, v, len, &p);
		if (rc == BIP_OK) {
			check(bip_pool_validate(&p, NULL, 0) == BIP_OK);
			enc = pool_encode(NULL, &p, &n);
		}
		bip_pool_clear(&p);
		break;
	}
	case CONFIG: {
		struct bip_config c;

		rc = config_decode(NULL, v, len, &c);
		if (rc == BIP_OK)
			enc = config_encode(NULL, &c, &n);
		break;
	}
	case RESERVATION: {
		struct bip_reservation r = {0};

		rc = reservation_decode(NULL, name, v, len, &r);
		if (rc == BIP_OK)
			enc = reservation_encode(NULL, &r, &n);
		bip_reservation_clear(&r);
		break;
	}
	case NODE: {
		struct bip_node nd = {0};

		rc = node_decode(NULL, name, v, len, &nd);
		if (rc == BIP_OK) {
			check(nd.naddrs <= NODE_MAX_ADDRS);
			enc = node_encode(NULL, &nd, &n);
		}
		bip_node_clear(&nd);
		break;
	}
	case NAMESPACE: {
		struct bip_namespace ns = {0};

		rc = namespace_decode(NULL, name, v, len, &ns);
		if (rc == BIP_OK) {
			check(ns.npools <= NS_MAX_POOLS);
			enc = namespace_encode(NULL, &ns, &n);
		}
		bip_namespace_clear(&ns);
		break;
	}
	default: {
		enum aff_state st;

		rc = affinity_decode(v, len, &st, NULL);
		if (rc == BIP_OK)
			enc = strdup(affinity_value(st));
		break;
	}
	}
	/* Garbage is ECORRUPT; with no allocation failing, nothing else. */
	check(rc == BIP_OK || rc == BIP_ECORRUPT);
	/* What decoded encodes (the encoders fail only when memory runs out). */
	check(rc != BIP_OK || enc != NULL);
	check(!enc || n == strlen(enc) || k == AFFINITY);
	return enc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"blocks/10.0.0.0-26", NULL, "p", "config", "r",
					    "n1", "ns", "affinity/n1/10.0.0.0-26"};
	enum kind k;
	const char *name;
	char *once, *twice;

	if (size < 1)
		return 0;
	k = (enum kind)(data[0] & 7);
	name = k == HANDLE ? handle_ids[(data[0] >> 3) % 5] : names[k];
	once = reencode(k, name, data + 1, size - 1);
	if (!once)
		return 0;
	twice = reencode(k, name, (const unsigned char *)once, strlen(once));
	check(twice != NULL);
	check(strcmp(once, twice) == 0);
	free(once);
	free(twice);
	return 0;
}
