/*
 * The library on a store holding garbage. Each input starts from the same sound store (two
 * pools, two nodes' blocks, a borrowed address, handles, affinities, a node, a namespace, a
 * reservation, the config), overwrites or deletes some of its keys with the input, and runs
 * the public operations on it: allocate (new handle, repeated handle, specific address),
 * release by address and by handle, the read-only listings, check, check --repair, empty block
 * release, node release, pool delete. They may fail (BIP_ECORRUPT is the expected answer) but
 * must not crash or leak; an allocation that succeeds must hand out only addresses that a sound
 * block record gives to the requesting handle, and to no other; and no block the run creates
 * may overlap another (their common addresses could be held twice). A broken rule aborts.
 *
 * Input: segments separated by NUL bytes; the first byte of a segment picks a key (below), the
 * rest is its new value; a segment of one byte deletes the key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static const char *const base[][2] = {
	{"config", "{\"strictAffinity\":false,\"autoAllocateBlocks\":true,\"maxBlocksPerHost\":0,"
		   "\"emptyBlockReleaseSeconds\":0}"},
	{"pools/p", "{\"cidr\":\"10.0.0.0/24\",\"blockSize\":26,\"allowedUses\":[\"Workload\","
		    "\"Tunnel\"],\"assignmentMode\":\"Automatic\"}"},
	{"pools/p6", "{\"cidr\":\"fd00::/120\",\"blockSize\":122,\"allowedUses\":[\"Workload\"],"
		     "\"assignmentMode\":\"Automatic\"}"},
	{"poolset", "{}"},
	{"blocks/10.0.0.0-26", "{\"cidr\":\"10.0.0.0/26\",\"node\":\"n1\",\"claimed\":1,"
			       "\"alloc\":[[0,\"h1\"],[1,\"h2\",\"n2\"]],\"freed\":[2]}"},
	{"blocks/10.0.0.64-26", "{\"cidr\":\"10.0.0.64/26\",\"node\":\"n2\",\"claimed\":1,"
				"\"alloc\":[[0,\"h3\"]]}"},
	{"blocks/fd00::-122", "{\"cidr\":\"fd00::/122\",\"node\":\"n1\",\"claimed\":1,"
			      "\"emptySince\":1,\"alloc\":[]}"},
	{"affinity/n1/10.0.0.0-26", "{\"state\":\"confirmed\"}"},
	{"affinity/n2/10.0.0.64-26", "{\"state\":\"confirmed\"}"},
	{"affinity/n1/fd00::-122", "{\"state\":\"confirmed\"}"},
	{"handles/h1", "{\"ips\":[\"10.0.0.0/26\"],\"node\":\"n1\",\"time\":1}"},
	{"handles/h2", "{\"ips\":[\"10.0.0.1/26\"],\"node\":\"n2\",\"time\":1}"},
	{"handles/h3", "{\"ips\":[\"10.0.0.64/26\"],\"node\":\"n2\",\"time\":1}"},
	{"nodes/n1", "{\"labels\":{\"zone\":\"a\"},\"addresses\":[],\"podCIDRs\":[]}"},
	{"namespaces/ns", "{\"labels\":{},\"pools\":[\"p\",\"p6\"]}"},
	{"reservations/r", "{\"cidrs\":[\"10.0.0.128/30\"]}"},
};

/* The keys an input can change: those above, and some that are not there. */
static const char *const keys[] = {
	"config",
	"pools/p",
	"pools/p6",
	"pools/q",
	"poolset",
	"blocks/10.0.0.0-26",
	"blocks/10.0.0.64-26",
	"blocks/fd00::-122",
	"blocks/10.0.0.128-26",
	"affinity/n1/10.0.0.0-26",
	"affinity/n2/10.0.0.64-26",
	"affinity/n1/10.0.0.128-26",
	"handles/h1",
	"handles/h2",
	"handles/h3",
	"handles/h5",
	"nodes/n1",
	"nodes/n2",
	"namespaces/ns",
	"reservations/r",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static struct bip_store *st;
static struct bip_ipam *ip;
static char dir[] = "/dev/shm/bip-fuzz.XXXXXX";

static void close_store(void)
{
	static const char *const files[] = {"ipam.db", "ipam.db-wal", "ipam.db-shm",
					    "ipam.db.lock"};
	char path[64];

	bip_ipam_free(ip);
	bip_store_close(st);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* One store for the process, on tmpfs when there is one. */
static void open_store(void)
{
	char path[64], err[256];

	if (access("/dev/shm", W_OK) != 0)
		memcpy(dir, "/tmp/", 5);
	check(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ipam.db", dir);
	check(bip_sqlite_open(path, NULL, &st, err, sizeof(err)) == BIP_OK);
	check(bip_ipam_new(st, &ip) == BIP_OK);
	atexit(close_store);
}

/* One txn: delete every key, write the sound store, then the input's changes (the last change
 * of a key wins). */
static void load(const uint8_t *data, size_t size)
{
	enum { NBASE = sizeof(base) / sizeof(base[0]) };
	const uint8_t *change[NKEYS] = {0};
	size_t changelen[NKEYS] = {0}, n = 0;
	struct bip_kvs kvs = {0};
	struct bip_op *ops;

	check(bip_store_list(st, "", BIP_LIST_KEYS_ONLY, &kvs) == BIP_OK);
	ops = calloc(kvs.n + NBASE + NKEYS, sizeof(*ops));
	check(ops != NULL);
	for (size_t i = 0; i < size;) {
		const uint8_t *end = memchr(data + i, 0, size - i);
		size_t len = end ? (size_t)(end - (data + i)) : size - i;

		if (len > 0) {
			change[data[i] % NKEYS] = data + i;
			changelen[data[i] % NKEYS] = len;
		}
		i += len + 1;
	}
	for (size_t i = 0; i < kvs.n; i++) {
		bool written = false;

		for (size_t k = 0; k < NBASE && !written; k++)
			written = strcmp(kvs.v[i].key, base[k][0]) == 0;
		for (size_t k = 0; k < NKEYS && !written; k++)
			written = change[k] && strcmp(kvs.v[i].key, keys[k]) == 0;
		if (!written)
			ops[n++] = (struct bip_op){BIP_OP_DEL, kvs.v[i].key, NULL, 0};
	}
	for (size_t k = 0; k < NBASE; k++) {
		bool changed = false;

		for (size_t c = 0; c < NKEYS && !changed; c++)
			changed = change[c] && strcmp(base[k][0], keys[c]) == 0;
		if (!changed)
			ops[n++] = (struct bip_op){BIP_OP_PUT, base[k][0], base[k][1],
						   strlen(base[k][1])};
	}
	for (size_t c = 0; c < NKEYS; c++)
		if (change[c])
			ops[n++] = (struct bip_op){changelen[c] == 1 ? BIP_OP_DEL : BIP_OP_PUT,
						   keys[c], change[c] + 1, changelen[c] - 1};
	check(bip_store_txn(st, NULL, 0, ops, n, NULL) == BIP_OK);
	free(ops);
	bip_kvs_free(&kvs);
}

/* Every address of res is given to handle by exactly one sound block record (its content
 * names the block its key names), and by no sound record to another handle. */
static void check_given(const struct bip_alloc_result *res, const char *handle)
{
	struct bip_kvs kvs = {0};
	size_t *seen = calloc(res->n + 1, sizeof(size_t));

	check(seen && bip_store_list(st, "blocks/", 0, &kvs) == BIP_OK);
	for (size_t i = 0; i < kvs.n; i++) {
		struct blk *b = NULL;
		struct bip_prefix kp;

		if (bip__cidr_from_keypart(kvs.v[i].key + strlen("blocks/"), &kp) != BIP_OK ||
		    bip__blk_decode(NULL, kvs.v[i].key, kvs.v[i].value, kvs.v[i].len, 1, &b) != BIP_OK)
			continue;
		if (bip_prefix_eq(b->cidr, kp)) {
			for (size_t a = 0; a < res->n; a++) {
				uint32_t o;

				if (!bip_prefix_contains(b->cidr, res->v[a].addr))
					continue;
				o = (uint32_t)bip_prefix_ordinal(b->cidr, res->v[a].addr);
				if (!b->handle[o])
					continue;
				check(strcmp(b->handle[o], handle) == 0);
				seen[a]++;
			}
		}
		bip__blk_free(b);
	}
	for (size_t a = 0; a < res->n; a++)
		check(seen[a] == 1);
	free(seen);
	bip_kvs_free(&kvs);
}

/* The sound block records (content and key name the same block), in key order. */
static size_t sound_blocks(struct bip_prefix *out, size_t max)
{
	struct bip_kvs kvs = {0};
	size_t n = 0;

	check(bip_store_list(st, "blocks/", 0, &kvs) == BIP_OK);
	for (size_t i = 0; i < kvs.n && n < max; i++) {
		struct blk *b = NULL;
		struct bip_prefix kp;

		if (bip__cidr_from_keypart(kvs.v[i].key + strlen("blocks/"), &kp) == BIP_OK &&
		    bip__blk_decode(NULL, kvs.v[i].key, kvs.v[i].value, kvs.v[i].len, 1, &b) == BIP_OK &&
		    bip_prefix_eq(b->cidr, kp))
			out[n++] = kp;
		bip__blk_free(b);
	}
	bip_kvs_free(&kvs);
	return n;
}

static bool among(const struct bip_prefix *v, size_t n, struct bip_prefix p)
{
	for (size_t i = 0; i < n; i++)
		if (bip_prefix_eq(v[i], p))
			return true;
	return false;
}

static void allocate(const struct bip_alloc_req *req)
{
	struct bip_alloc_result res = {0};

	if (bip_ipam_allocate(ip, req, &res) == BIP_OK)
		check_given(&res, req->handle);
	bip_alloc_result_free(&res);
}

static int count_alloc(void *ctx, const struct bip_alloc_entry *e)
{
	(void)e;
	(*(size_t *)ctx)++;
	return 0;
}

static int count_handle(void *ctx, const struct bip_handle_info *h)
{
	(void)h;
	(*(size_t *)ctx)++;
	return 0;
}

static void run_all(void)
{
	struct bip_addr a5, a1, a0;
	struct bip_alloc_req fresh = {.handle = "h5", .node = "n1", .namespace = "ns", .num4 = 1,
				      .num6 = 1};
	struct bip_alloc_req again = {.handle = "h1", .node = "n1", .num4 = 1};
	struct bip_alloc_req borrow = {.handle = "h6", .node = "n3", .num4 = 2};
	struct bip_alloc_req specific = {.handle = "h7", .node = "n2", .ips = &a5, .nips = 1};
	struct bip_check_report rep = {0};
	struct bip_block_info *bl = NULL;
	struct bip_pool_usage *u = NULL;
	struct bip_addr_info ai = {0};
	size_t n = 0, count = 0;

	check(bip_addr_parse("10.0.0.5", &a5) == BIP_OK);
	check(bip_addr_parse("10.0.0.1", &a1) == BIP_OK);
	check(bip_addr_parse("10.0.0.0", &a0) == BIP_OK);
	allocate(&fresh);
	allocate(&again);
	allocate(&borrow);
	allocate(&specific);
	if (bip_ipam_addr_info(ip, a0, &ai) == BIP_OK)
		bip_addr_info_clear(&ai);
	if (bip_ipam_block_list(ip, &bl, &n) == BIP_OK)
		bip_block_infos_free(bl, n);
	if (bip_ipam_usage(ip, &u, &n) == BIP_OK)
		bip_pool_usages_free(u, n);
	bip_ipam_alloc_foreach(ip, count_alloc, &count);
	bip_ipam_handle_foreach(ip, "", count_handle, &count);
	if (bip_ipam_check(ip, false, &rep) == BIP_OK)
		bip_check_report_free(&rep);
	bip_ipam_release_addr(ip, a1, "h2");
	bip_ipam_release_handle(ip, "h1");
	if (bip_ipam_check(ip, true, &rep) == BIP_OK)
		bip_check_report_free(&rep);
	allocate(&fresh); /* after the repairs */
	bip_ipam_release_empty_blocks(ip, 0, NULL);
	bip_ipam_node_release(ip, "n2", NULL, NULL);
	bip_ipam_pool_delete(ip, "p6");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bip_prefix before[64], after[64];
	size_t nbefore, nafter;

	if (!st)
		open_store();
	load(data, size);
	nbefore = sound_blocks(before, 64);
	run_all();
	/* No new block overlaps another one: their common addresses could be held twice. */
	nafter = sound_blocks(after, 64);
	for (size_t i = 0; i < nafter; i++)
		for (size_t j = i + 1; j < nafter; j++)
			check(!bip_prefix_overlaps(after[i], after[j]) ||
			      (among(before, nbefore, after[i]) && among(before, nbefore, after[j])));
	return 0;
}
