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

/* What a decoder accepted obeys the limits its encoder and the allocator rely on. */
static void inspect(void *ctx, enum rec_kind k, const void *rec)
{
	const char *name = ctx;

	switch (k) {
	case REC_BLOCK:
		check_block(rec);
		break;
	case REC_HANDLE: {
		const struct bip_handle_info *h = rec;

		check(h->naddrs <= HANDLE_MAX_ADDRS && strcmp(h->id, name) == 0);
		break;
	}
	case REC_POOL:
		check(bip_pool_validate(rec, NULL, 0) == BIP_OK);
		break;
	case REC_NODE:
		check(((const struct bip_node *)rec)->naddrs <= NODE_MAX_ADDRS);
		break;
	case REC_NAMESPACE:
		check(((const struct bip_namespace *)rec)->npools <= NS_MAX_POOLS);
		break;
	default:
		break;
	}
}

/* Decode v as kind k and encode it again; NULL when it does not decode. */
static char *reencode(enum rec_kind k, const char *name, const unsigned char *v, size_t len)
{
	size_t n = 0;
	char *enc = NULL;
	int rc = bip__record_reencode(NULL, k, name, v, len, &enc, &n, inspect, (void *)name);

	/* Garbage is ECORRUPT; with no allocation failing, nothing else. */
	check(rc == BIP_OK || rc == BIP_ECORRUPT);
	/* What decoded encodes (the encoders fail only when memory runs out). */
	check(rc != BIP_OK || enc != NULL);
	check(!enc || n == strlen(enc));
	return enc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"blocks/10.0.0.0-26", NULL, "p", "config", "r",
					    "n1", "ns", "affinity/n1/10.0.0.0-26"};
	enum rec_kind k;
	const char *name;
	char *once, *twice;

	if (size < 1)
		return 0;
	k = (enum rec_kind)(data[0] & 7);
	name = k == REC_HANDLE ? handle_ids[(data[0] >> 3) % 5] : names[k];
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
