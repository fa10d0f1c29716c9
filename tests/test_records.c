/*
 * The stored records: each codec reads what it writes and writes what it reads, canonically;
 * records that break a rule do not decode; and no writer stores a record its reader would
 * refuse (a handle with more addresses, a node with more addresses or a namespace with more
 * pools than the decoder takes would make the handle, the node or the namespace unusable).
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/internal.h" /* the record codecs */
#include "blockipam/ipam.h"
#include "t.h"
#include "util.h"

enum kind {
	BLOCK = REC_BLOCK,
	HANDLE = REC_HANDLE,
	POOL = REC_POOL,
	CONFIG = REC_CONFIG,
	RESERVATION = REC_RESERVATION,
	NODE = REC_NODE,
	NAMESPACE = REC_NAMESPACE,
	AFFINITY = REC_AFFINITY,
};

/* Decode text as a record of kind k and encode it again (*out malloc'd). */
static int reencode(enum kind k, const char *name, const char *text, char **out)
{
	return bip__record_reencode(NULL, (enum rec_kind)k, name, (const unsigned char *)text,
				    strlen(text), out, NULL, NULL, NULL);
}

static void test_codec_round_trip(void)
{
	static const struct {
		enum kind k;
		const char *name, *in;
		int want;
		const char *out; /* NULL: the input is canonical */
	} rows[] = {
	    {BLOCK, "b",
	     "{\"cidr\":\"10.0.0.0/30\",\"node\":\"n1\",\"claimed\":5,\"alloc\":[[0,\"h\"],"
	     "[2,\"g\",\"n2\"]],\"freed\":[1]}",
	     BIP_OK, NULL},
	    {BLOCK, "b", "{\"alloc\":[],\"cidr\":\"fd00::/126\"}", BIP_OK,
	     "{\"cidr\":\"fd00::/126\",\"claimed\":0,\"alloc\":[]}"},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"alloc\":[[4,\"h\"]]}", BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"alloc\":[[0,\"h\"],[0,\"g\"]]}",
	     BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"alloc\":[[0,\"h\"]],\"freed\":[0]}",
	     BIP_ECORRUPT},
	    /* release times older than BIP_COOLDOWN_MAX are dropped; they must name freed
	     * ordinals, once each, with a positive time */
	    {BLOCK, "b",
	     "{\"cidr\":\"10.0.0.0/30\",\"claimed\":5,\"alloc\":[],\"freed\":[1],"
	     "\"cool\":[[1,5]]}",
	     BIP_OK, "{\"cidr\":\"10.0.0.0/30\",\"claimed\":5,\"alloc\":[],\"freed\":[1]}"},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"freed\":[1],\"cool\":[[2,5]]}", BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"freed\":[1],\"cool\":[[1,0]]}", BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"freed\":[1],\"cool\":[[1,5],[1,6]]}",
	     BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"freed\":[1],\"cool\":[1]}", BIP_ECORRUPT},
	    {AFFINITY, "", "{\"state\":\"confirmed\",\"free\":4,\"emptySince\":-1}", BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.1/30\"}", BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/8\"}", BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"node\":\"bad/node\"}", BIP_ECORRUPT},
	    {BLOCK, "b", "{\"cidr\":\"10.0.0.0/30\",\"alloc\":[[0,\"a b\"]]}", BIP_ECORRUPT},
	    {HANDLE, "net.c1.eth0",
	     "{\"ips\":[\"10.0.0.1/26\",\"fd00::1/122\"],\"node\":\"n1\",\"pod\":\"p\","
	     "\"ifname\":\"eth0\",\"time\":7}",
	     BIP_OK, NULL},
	    /* K8S_POD_UID, recorded since the k8s sync; records without it (above) still decode */
	    {HANDLE, "net.c1.eth0",
	     "{\"ips\":[\"10.0.0.1/26\"],\"node\":\"n1\",\"namespace\":\"ns\",\"pod\":\"p\","
	     "\"podUID\":\"6f1c-42\",\"ifname\":\"eth0\",\"time\":7}",
	     BIP_OK, NULL},
	    {HANDLE, "h", "{\"ips\":[],\"podUID\":7,\"time\":1}", BIP_ECORRUPT},
	    {HANDLE, "h", "{\"ips\":[\"10.0.0.1\"]}", BIP_ECORRUPT},
	    {HANDLE, "h", "{\"node\":\"n1\"}", BIP_ECORRUPT},
	    {HANDLE, "h", "{\"ips\":[],\"time\":-1}", BIP_ECORRUPT},
	    {POOL, "p",
	     "{\"cidr\":\"10.0.0.0/24\",\"blockSize\":26,\"allowedUses\":[\"Workload\"],"
	     "\"assignmentMode\":\"Manual\",\"priority\":-3,\"extra\":{\"ipipMode\":\"Never\"}}",
	     BIP_OK, NULL},
	    {POOL, "p", "{\"cidr\":\"10.0.0.0/24\",\"blockSize\":19}", BIP_ECORRUPT},
	    {POOL, "p", "{\"cidr\":\"10.0.0.0/24\",\"nodeSelector\":\"a ==\"}", BIP_ECORRUPT},
	    {CONFIG, "", "{\"strictAffinity\":true}", BIP_OK,
	     "{\"strictAffinity\":true,\"autoAllocateBlocks\":true,\"maxBlocksPerHost\":0,"
	     "\"emptyBlockReleaseSeconds\":900,\"ipCooldownSeconds\":0}"},
	    {CONFIG, "", "{\"ipCooldownSeconds\":1201}", BIP_ECORRUPT},
	    {CONFIG, "", "{\"ipCooldownSeconds\":-1}", BIP_ECORRUPT},
	    {CONFIG, "", "{\"maxBlocksPerHost\":-1}", BIP_ECORRUPT},
	    {RESERVATION, "r", "{\"cidrs\":[\"10.0.0.0/30\",\"fd00::1/128\"]}", BIP_OK, NULL},
	    {RESERVATION, "r", "{\"cidrs\":[\"10.0.0.1/30\"]}", BIP_ECORRUPT},
	    {NODE, "n1",
	     "{\"labels\":{\"zone\":\"a\"},\"addresses\":[\"192.168.0.1\"],"
	     "\"podCIDRs\":[\"10.244.0.0/24\"]}",
	     BIP_OK, NULL},
	    {NODE, "n1", "{\"labels\":{\"zone\":1}}", BIP_ECORRUPT},
	    {NAMESPACE, "ns", "{\"labels\":{},\"pools\":[\"p\",\"10.0.0.0/24\"]}", BIP_OK, NULL},
	    {NAMESPACE, "ns", "{\"pools\":[1]}", BIP_ECORRUPT},
	    {AFFINITY, "", "{\"state\":\"pendingDeletion\"}", BIP_OK, NULL},
	    {AFFINITY, "", "{\"state\":\"gone\"}", BIP_ECORRUPT},
	    {AFFINITY, "", "", BIP_ECORRUPT},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *out = NULL, *again = NULL;
		int rc = reencode(rows[i].k, rows[i].name, rows[i].in, &out);

		T_CHECK(rc == rows[i].want, "row %zu: got %s, want %s", i, bip_errname(rc),
			bip_errname(rows[i].want));
		if (rc != BIP_OK || rows[i].want != BIP_OK)
			goto next;
		T_CHECK_STR(out, rows[i].out ? rows[i].out : rows[i].in);
		T_CHECK(reencode(rows[i].k, rows[i].name, out, &again) == BIP_OK, "row %zu", i);
		T_CHECK_STR(again, out);
	next:
		free(out);
		free(again);
	}
}

struct env {
	char *dir;
	struct bip_store *st;
	struct bip_ipam *ip;
};

static int env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->dir = t_tmpdir();
	e->st = e->dir ? t_store(e->dir, NULL, 0) : NULL;
	return e->st && bip_ipam_new(e->st, &e->ip) == BIP_OK ? 0 : -1;
}

static void env_close(struct env *e)
{
	bip_ipam_free(e->ip);
	bip_store_close(e->st);
	t_rmdir(e->dir);
}

/* Each writer keeps within what its reader takes: at the limit it works, past it the writer
 * refuses with BIP_EINVAL and the store is unchanged. */
static void test_writers_within_reader_limits(void)
{
	struct bip_addr addrs[NODE_MAX_ADDRS + 1];
	char *pools[NS_MAX_POOLS + 1];
	struct bip_alloc_result r = {0};
	struct bip_handle_info h = {0};
	struct bip_node nd = {.name = "n1", .addrs = addrs};
	struct bip_namespace ns = {.name = "ns1", .pools = pools};
	char *before, *after;
	struct env e;
	int rc;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/16", 26, NULL) == BIP_OK);
	/* A handle: as many addresses as one request may ask for, and not one more. */
	struct bip_alloc_req req = {.handle = "h", .node = "n1", .num4 = HANDLE_MAX_ADDRS};
	rc = bip_ipam_allocate(e.ip, &req, &r);
	T_REQUIRE(rc == BIP_OK, "%s: %s", bip_errname(rc), bip_ipam_errmsg(e.ip));
	bip_alloc_result_free(&r);
	T_CHECK_INT(bip_ipam_handle_get(e.ip, "h", &h), BIP_OK);
	T_CHECK_INT(h.naddrs, HANDLE_MAX_ADDRS);
	bip_handle_info_clear(&h);
	T_CHECK_INT(bip_ipam_allocate(e.ip, &req, &r), BIP_OK);
	T_CHECK(r.existing && r.n == HANDLE_MAX_ADDRS, "repeat: existing %d, %zu addresses",
		r.existing, r.n);
	bip_alloc_result_free(&r);
	/* one more, asked for as a specific address in a second request */
	struct bip_addr extra = t_addr("10.0.200.1");
	req.ips = &extra;
	req.nips = 1;
	req.num4 = 0;
	before = t_dump(e.st);
	rc = bip_ipam_allocate(e.ip, &req, &r);
	T_CHECK(rc == BIP_EINVAL && strstr(bip_ipam_errmsg(e.ip), "at most 256"), "%s: %s",
		bip_errname(rc), bip_ipam_errmsg(e.ip));
	after = t_dump(e.st);
	T_CHECK(strcmp(before, after) == 0, "refused, yet the store changed");
	free(before);
	free(after);
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "h"), BIP_OK);
	/* A node's addresses. */
	for (size_t i = 0; i <= NODE_MAX_ADDRS; i++)
		addrs[i] = bip_addr_add(t_addr("192.168.0.1"), i);
	nd.naddrs = NODE_MAX_ADDRS + 1;
	T_CHECK_INT(bip_ipam_node_put(e.ip, &nd), BIP_EINVAL);
	T_CHECK_INT(bip_ipam_node_get(e.ip, "n1", &nd), BIP_ENOTFOUND);
	nd.naddrs = NODE_MAX_ADDRS;
	T_CHECK_INT(bip_ipam_node_put(e.ip, &nd), BIP_OK);
	struct bip_node got = {0};
	T_CHECK_INT(bip_ipam_node_get(e.ip, "n1", &got), BIP_OK);
	T_CHECK_INT(got.naddrs, NODE_MAX_ADDRS);
	bip_node_clear(&got);
	/* A namespace's pools. */
	for (size_t i = 0; i <= NS_MAX_POOLS; i++)
		pools[i] = "p";
	ns.npools = NS_MAX_POOLS + 1;
	T_CHECK_INT(bip_ipam_namespace_put(e.ip, &ns), BIP_EINVAL);
	ns.npools = NS_MAX_POOLS;
	T_CHECK_INT(bip_ipam_namespace_put(e.ip, &ns), BIP_OK);
	struct bip_namespace gotns = {0};
	T_CHECK_INT(bip_ipam_namespace_get(e.ip, "ns1", &gotns), BIP_OK);
	T_CHECK_INT(gotns.npools, NS_MAX_POOLS);
	bip_namespace_clear(&gotns);
	env_close(&e);
}

/* A repeated request returns what the handle record lists, so a record that lists what its
 * blocks do not give the handle (a corrupt store) must not be believed: the request fails with
 * BIP_ECORRUPT and hands nothing out, until check --repair fixes the record. h1 holds the first
 * address of its block, h2 the second. */
enum lie { BLOCK_GONE, LISTS_OTHERS, LISTS_FREE };

static void test_lying_handle_record(void)
{
	for (int lie = BLOCK_GONE; lie <= LISTS_FREE; lie++) {
		struct bip_alloc_req req = {.handle = "h1", .node = "n1", .num4 = 1};
		struct bip_alloc_req other = {.handle = "h2", .node = "n1", .num4 = 1};
		struct bip_check_report rep = {0};
		struct bip_alloc_result r = {0};
		char key[64], val[256], a0[BIP_ADDR_STRLEN], a1[BIP_ADDR_STRLEN];
		struct bip_prefix blk;
		char *before, *after;
		struct env e;
		int rc;

		T_REQUIRE(env_open(&e) == 0);
		T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
		T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK);
		blk = r.v[0].block;
		bip_alloc_result_free(&r);
		T_REQUIRE(bip_ipam_allocate(e.ip, &other, &r) == BIP_OK);
		bip_alloc_result_free(&r);
		bip_addr_fmt(bip_prefix_nth(blk, 0), a0);
		bip_addr_fmt(bip_prefix_nth(blk, lie == LISTS_OTHERS ? 1 : 9), a1);
		bip__key_block(key, blk);
		snprintf(val, sizeof(val), "{\"ips\":[\"%s/26\",\"%s/26\"],\"node\":\"n1\"}", a0,
			 a1);
		if (lie == BLOCK_GONE)
			T_REQUIRE(t_del(e.st, key) == BIP_OK);
		else
			T_REQUIRE(t_put(e.st, "handles/h1", val) == BIP_OK);
		before = t_dump(e.st);
		rc = bip_ipam_allocate(e.ip, &req, &r);
		T_CHECK(rc == BIP_ECORRUPT, "lie %d: got %s, %zu addresses", lie, bip_errname(rc),
			r.n);
		T_CHECK(strstr(bip_ipam_errmsg(e.ip), "check --repair"), "lie %d: %s", lie,
			bip_ipam_errmsg(e.ip));
		bip_alloc_result_free(&r);
		after = t_dump(e.st);
		T_CHECK(strcmp(before, after) == 0, "lie %d: the store changed", lie);
		T_CHECK_INT(bip_ipam_check(e.ip, true, &rep), BIP_OK);
		bip_check_report_free(&rep);
		/* repaired: the handle holds what its blocks give it, and gets one address */
		rc = bip_ipam_allocate(e.ip, &req, &r);
		T_CHECK(rc == BIP_OK && r.n == 1, "lie %d after repair: %s, %zu addresses", lie,
			bip_errname(rc), r.n);
		bip_alloc_result_free(&r);
		T_CHECK_INT(bip_ipam_check(e.ip, false, &rep), BIP_OK);
		T_CHECK(rep.n == 0, "lie %d: %zu problems left, first: %s", lie, rep.n,
			rep.n ? rep.v[0].detail : "");
		bip_check_report_free(&rep);
		free(before);
		free(after);
		env_close(&e);
	}
}

/* A block key whose record holds another block (of the other family, even): every operation
 * that reads it through the key says BIP_ECORRUPT; none indexes the record with an address
 * outside it. */
static void test_block_record_of_another_block(void)
{
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .num4 = 1};
	struct bip_alloc_result r = {0};
	struct bip_check_report rep = {0};
	struct bip_addr_info ai = {0};
	struct bip_addr addr;
	char key[64];
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
	T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK);
	addr = r.v[0].addr;
	bip__key_block(key, r.v[0].block);
	bip_alloc_result_free(&r);
	T_REQUIRE(
	    t_put(e.st, key, "{\"cidr\":\"fd15::/122\",\"node\":\"n1\",\"alloc\":[[0,\"h1\"]]}") ==
	    BIP_OK);
	T_CHECK_INT(bip_ipam_addr_info(e.ip, addr, &ai), BIP_ECORRUPT);
	bip_addr_info_clear(&ai);
	T_CHECK_INT(bip_ipam_allocate(e.ip, &req, &r), BIP_ECORRUPT);
	bip_alloc_result_free(&r);
	T_CHECK_INT(bip_ipam_release_addr(e.ip, addr, NULL), BIP_ECORRUPT);
	T_CHECK_INT(bip_ipam_check(e.ip, false, &rep), BIP_OK);
	T_CHECK(rep.n > 0 && rep.v[0].kind == BIP_PROB_BLOCK_CORRUPT, "%zu problems", rep.n);
	bip_check_report_free(&rep);
	env_close(&e);
}

/* A handle's boot stamp (bootID, bootTime): optional, so records written before it decode;
 * both or neither; a bootID that is not a boot id is a damaged record. A handle the library
 * writes carries this boot's stamp, and bip_handle_age measures it on CLOCK_BOOTTIME, so a
 * wall time a day old cannot make it look old. */
static void test_handle_boot_stamp(void)
{
	static const struct {
		const char *rec;
		int rc;
		const char *boot_id;
		int64_t boot_s;
	} rows[] = {
	    {"{\"ips\":[],\"time\":5}", BIP_OK, "", 0},
	    {"{\"ips\":[],\"time\":5,\"bootID\":\"d8efe381-fe20-4eb2-926e-5975fa8c634f\","
	     "\"bootTime\":70}",
	     BIP_OK, "d8efe381-fe20-4eb2-926e-5975fa8c634f", 70},
	    {"{\"ips\":[],\"time\":5,\"bootID\":\"d8efe381-fe20-4eb2-926e-5975fa8c634f\"}",
	     BIP_ECORRUPT, "", 0},
	    {"{\"ips\":[],\"time\":5,\"bootTime\":70}", BIP_ECORRUPT, "", 0},
	    {"{\"ips\":[],\"time\":5,\"bootID\":\"nope\",\"bootTime\":70}", BIP_ECORRUPT, "", 0},
	    {"{\"ips\":[],\"time\":5,\"bootID\":\"D8EFE381-FE20-4EB2-926E-5975FA8C634F\","
	     "\"bootTime\":70}",
	     BIP_ECORRUPT, "", 0},
	    {"{\"ips\":[],\"time\":5,\"bootID\":\"d8efe381-fe20-4eb2-926e-5975fa8c634f\","
	     "\"bootTime\":-1}",
	     BIP_ECORRUPT, "", 0},
	    {"{\"ips\":[],\"time\":5,\"bootID\":7,\"bootTime\":70}", BIP_ECORRUPT, "", 0},
	};
	struct bip_alloc_req req = {.handle = "mine", .node = "n1", .num4 = 1};
	struct bip_alloc_result r = {0};
	struct bip_handle_info h = {0};
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		T_REQUIRE(t_put(e.st, "handles/h", rows[i].rec) == BIP_OK);
		T_CHECK_INT(bip_ipam_handle_get(e.ip, "h", &h), rows[i].rc);
		if (rows[i].rc == BIP_OK) {
			T_CHECK(strcmp(h.boot_id, rows[i].boot_id) == 0, "row %zu: bootID '%s'", i,
				h.boot_id);
			T_CHECK(h.boot_s == rows[i].boot_s, "row %zu: bootTime %lld", i,
				(long long)h.boot_s);
		}
		bip_handle_info_clear(&h);
	}
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
	T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK);
	bip_alloc_result_free(&r);
	T_REQUIRE(bip_ipam_handle_get(e.ip, "mine", &h) == BIP_OK);
	T_CHECK(strlen(h.boot_id) == BIP_BOOT_ID_LEN, "bootID '%s'", h.boot_id);
	T_CHECK(bip_boot_elapsed(h.boot_id, h.boot_s) >= 0 &&
		    bip_boot_elapsed(h.boot_id, h.boot_s) < 60,
		"elapsed %lld", (long long)bip_boot_elapsed(h.boot_id, h.boot_s));
	h.time -= 86400; /* its writer's wall clock a day behind */
	T_CHECK(bip_handle_age(&h, h.time + 86400) < 60, "age %lld",
		(long long)bip_handle_age(&h, h.time + 86400));
	h.boot_id[0] = h.boot_id[0] == '0' ? '1' : '0'; /* another boot: the wall clock decides */
	T_CHECK(bip_boot_elapsed(h.boot_id, h.boot_s) == -1, "another boot's stamp measured");
	T_CHECK(bip_handle_age(&h, h.time + 86400) == 86400, "age %lld",
		(long long)bip_handle_age(&h, h.time + 86400));
	T_CHECK(bip_handle_age(&h, h.time - 5) == 0, "a time ahead gives a negative age");
	bip_handle_info_clear(&h);
	env_close(&e);
}

T_MAIN(T(test_codec_round_trip), T(test_writers_within_reader_limits), T(test_lying_handle_record),
       T(test_block_record_of_another_block), T(test_handle_boot_stamp))
