/*
 * The allocation engine on a real SQLite file: pools, blocks, affinity, borrowing, handles,
 * reservations, release, lifecycle and the consistency check. Every test starts from an empty
 * store in a fresh directory.
 */
#include <stdlib.h>
#include <string.h>

#include "blockipam/ipam.h"
#include "t.h"
#include "util.h"

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
	if (!e->st || bip_ipam_new(e->st, &e->ip) != BIP_OK)
		return -1;
	return 0;
}

static void env_close(struct env *e)
{
	bip_ipam_free(e->ip);
	bip_store_close(e->st);
	t_rmdir(e->dir);
}

/* Allocate n4/n6 for handle on node; returns the code, fills res (caller frees). */
static int alloc(struct env *e, const char *handle, const char *node, unsigned n4, unsigned n6,
		 struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = handle, .node = node, .num4 = n4, .num6 = n6};

	memset(res, 0, sizeof(*res));
	return bip_ipam_allocate(e->ip, &req, res);
}

static const char *fmt(struct bip_addr a)
{
	static char buf[4][BIP_ADDR_STRLEN];
	static int k;

	return bip_addr_fmt(a, buf[k++ & 3]);
}

static void check_clean(struct env *e)
{
	struct bip_check_report rep = {0};
	int rc = bip_ipam_check(e->ip, false, &rep);

	T_CHECK_INT(rc, BIP_OK);
	T_CHECK(rep.n == 0, "check found %zu problems, first: %s", rep.n,
		rep.n ? rep.v[0].detail : "");
	bip_check_report_free(&rep);
}

/* --- pools ------------------------------------------------------------------------------ */

static void test_pool_validation(void)
{
	static const struct {
		const char *name, *cidr;
		unsigned block;
		const char *sel;
		int want;
		const char *msg; /* substring of the message */
	} rows[] = {
		{"p1", "10.0.0.0/16", 0, NULL, BIP_OK, NULL},
		{"p2", "10.0.0.0/24", 0, NULL, BIP_EOVERLAP, "overlaps pool 'p1'"},
		{"p3", "10.1.0.5/16", 0, NULL, BIP_EHOSTBITS, "host bits set in cidr '10.1.0.5/16'"},
		{"p4", "10.2.0.0/16", 19, NULL, BIP_EINVAL, "blockSize 19 out of range 20-32"},
		{"p5", "10.2.0.0/16", 33, NULL, BIP_EINVAL, "out of range"},
		{"p6", "10.2.0.0/28", 26, NULL, BIP_EINVAL, "smaller than one block"},
		{"p7", "169.254.0.0/16", 0, NULL, BIP_EOVERLAP, "link-local"},
		{"p8", "fe80::/64", 0, NULL, BIP_EOVERLAP, "link-local"},
		{"p9", "fd00::/48", 115, NULL, BIP_EINVAL, "116-128"},
		{"p10", "fd00::/48", 0, NULL, BIP_OK, NULL},
		{"p11", "10.3.0.0/16", 0, "zone == ", BIP_EINVAL, "nodeSelector"},
		{"bad name", "10.4.0.0/16", 0, NULL, BIP_EINVAL, "invalid pool name 'bad name'"},
		{"p12", "10.5.0.0/16", 32, NULL, BIP_OK, NULL},
		{"p13", "0.0.0.0/0", 0, NULL, BIP_EOVERLAP, NULL},
	};
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_pool p = {0};
		int rc;

		p.name = (char *)rows[i].name;
		p.cidr = t_prefix(rows[i].cidr);
		p.block_len = rows[i].block;
		p.node_selector = (char *)rows[i].sel;
		rc = bip_ipam_pool_put(e.ip, &p, true);
		T_CHECK(rc == rows[i].want, "row %zu (%s %s): got %s (%s), want %s", i,
			rows[i].name, rows[i].cidr, bip_errname(rc), bip_ipam_errmsg(e.ip),
			bip_errname(rows[i].want));
		if (rows[i].msg)
			T_CHECK(strstr(bip_ipam_errmsg(e.ip), rows[i].msg), "row %zu: message '%s'",
				i, bip_ipam_errmsg(e.ip));
	}
	env_close(&e);
}

static void test_pool_immutable_fields(void)
{
	struct env e;
	struct bip_pool p = {0}, got = {0};

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/16", 26, NULL) == BIP_OK);
	p.name = "p";
	p.cidr = t_prefix("10.0.0.0/16");
	p.block_len = 28;
	T_CHECK_INT(bip_ipam_pool_put(e.ip, &p, false), BIP_EINVAL);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "cannot change in place"), "%s",
		bip_ipam_errmsg(e.ip));
	p.block_len = 26;
	p.cidr = t_prefix("10.1.0.0/16");
	T_CHECK_INT(bip_ipam_pool_put(e.ip, &p, false), BIP_EINVAL);
	/* disabling and re-enabling works */
	p.cidr = t_prefix("10.0.0.0/16");
	p.disabled = true;
	T_CHECK_INT(bip_ipam_pool_put(e.ip, &p, false), BIP_OK);
	T_CHECK_INT(bip_ipam_pool_get(e.ip, "p", &got), BIP_OK);
	T_CHECK(got.disabled, "pool should be disabled");
	bip_pool_clear(&got);
	p.disabled = false;
	T_CHECK_INT(bip_ipam_pool_put(e.ip, &p, false), BIP_OK);
	T_CHECK_INT(bip_ipam_pool_put(e.ip, &p, true), BIP_EEXIST);
	env_close(&e);
}

/* --- allocation ------------------------------------------------------------------------- */

static void test_fill_block_before_claiming(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_prefix first = {0};
	char h[32];

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 29, NULL) == BIP_OK);
	for (int i = 0; i < 9; i++) {
		snprintf(h, sizeof(h), "h%d", i);
		T_REQUIRE(alloc(&e, h, "n1", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
		T_CHECK_INT(r.n, 1);
		if (i == 0)
			first = r.v[0].block;
		if (i < 8)
			T_CHECK(bip_prefix_eq(r.v[0].block, first), "alloc %d not in first block",
				i);
		else
			T_CHECK(!bip_prefix_eq(r.v[0].block, first), "9th alloc in a full block");
		/* never-used addresses go lowest first */
		if (i < 8)
			T_CHECK(bip_addr_eq(r.v[0].addr, bip_prefix_nth(first, (unsigned)i)),
				"alloc %d got %s", i, fmt(r.v[0].addr));
		T_CHECK(!r.v[0].borrowed, "own block address marked borrowed");
		bip_alloc_result_free(&r);
	}
	check_clean(&e);
	env_close(&e);
}

static void test_reuse_order(void)
{
	struct env e;
	struct bip_alloc_result r;
	char h[32];

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/29", 29, NULL) == BIP_OK);
	for (int i = 0; i < 4; i++) {
		snprintf(h, sizeof(h), "h%d", i);
		T_REQUIRE(alloc(&e, h, "n1", 1, 0, &r) == BIP_OK);
		bip_alloc_result_free(&r);
	}
	/* free .2 then .0: never-used .4-.7 come first, then .2 (freed first), then .0 */
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "h2"), BIP_OK);
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "h0"), BIP_OK);
	static const char *const want[] = {"10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7",
					   "10.0.0.2", "10.0.0.0"};
	for (int i = 0; i < 6; i++) {
		snprintf(h, sizeof(h), "x%d", i);
		T_REQUIRE(alloc(&e, h, "n1", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
		T_CHECK_STR(fmt(r.v[0].addr), want[i]);
		bip_alloc_result_free(&r);
	}
	T_CHECK_INT(alloc(&e, "full", "n1", 1, 0, &r), BIP_EEXHAUSTED);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "no free IPv4 address"), "%s",
		bip_ipam_errmsg(e.ip));
	check_clean(&e);
	env_close(&e);
}

static void test_two_nodes_and_borrowing(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_prefix ba = {0}, bb = {0};
	char h[32];

	T_REQUIRE(env_open(&e) == 0);
	/* two /30 blocks */
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/29", 30, NULL) == BIP_OK);
	for (int i = 0; i < 4; i++) {
		snprintf(h, sizeof(h), "a%d", i);
		T_REQUIRE(alloc(&e, h, "node-a", 1, 0, &r) == BIP_OK);
		if (i == 0)
			ba = r.v[0].block;
		bip_alloc_result_free(&r);
		snprintf(h, sizeof(h), "b%d", i);
		T_REQUIRE(alloc(&e, h, "node-b", 1, 0, &r) == BIP_OK);
		if (i == 0)
			bb = r.v[0].block;
		bip_alloc_result_free(&r);
	}
	T_CHECK(!bip_prefix_eq(ba, bb), "two nodes got the same block");
	/* one block each: node-a's first four fill block a, b's fill block b */
	struct bip_block_info *bl;
	size_t n;
	T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &n) == BIP_OK);
	T_CHECK_INT(n, 2);
	for (size_t i = 0; i < n; i++) {
		T_CHECK_INT(bl[i].used, 4);
		T_CHECK_INT(bl[i].borrowed, 0);
	}
	bip_block_infos_free(bl, n);
	/* full: a fifth for node-a fails with a distinct error */
	T_CHECK_INT(alloc(&e, "a4", "node-a", 1, 0, &r), BIP_EEXHAUSTED);
	/* free one of node-b's: node-a borrows it */
	T_REQUIRE(bip_ipam_release_handle(e.ip, "b1") == BIP_OK);
	T_REQUIRE(alloc(&e, "a4", "node-a", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_CHECK(r.v[0].borrowed, "address from node-b's block not marked borrowed");
	T_CHECK(bip_prefix_eq(r.v[0].block, bb), "borrowed from the wrong block");
	bip_alloc_result_free(&r);
	struct bip_addr_info ai;
	struct bip_alloc_result r2;
	T_REQUIRE(alloc(&e, "a4", "node-a", 1, 0, &r2) == BIP_OK);
	T_CHECK(r2.existing, "repeat not marked existing");
	T_REQUIRE(bip_ipam_addr_info(e.ip, r2.v[0].addr, &ai) == BIP_OK);
	T_CHECK(ai.borrowed, "addr_info: not borrowed");
	T_CHECK_STR(ai.block_node, "node-b");
	T_CHECK_STR(ai.holder.node, "node-a");
	T_CHECK_STR(ai.holder.id, "a4");
	bip_addr_info_clear(&ai);
	bip_alloc_result_free(&r2);
	T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &n) == BIP_OK);
	for (size_t i = 0; i < n; i++)
		if (bip_prefix_eq(bl[i].cidr, bb))
			T_CHECK_INT(bl[i].borrowed, 1);
	bip_block_infos_free(bl, n);
	check_clean(&e);
	env_close(&e);
}

static void test_strict_affinity_and_block_limit(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_config cfg;
	char h[32];

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/28", 30, NULL) == BIP_OK); /* 4 blocks of 4 */
	for (int i = 0; i < 4; i++) {
		snprintf(h, sizeof(h), "b%d", i);
		T_REQUIRE(alloc(&e, h, "node-b", 1, 0, &r) == BIP_OK);
		bip_alloc_result_free(&r);
	}
	bip_config_default(&cfg);
	cfg.strict_affinity = true;
	cfg.max_blocks_per_host = 1;
	T_REQUIRE(bip_ipam_config_set(e.ip, &cfg) == BIP_OK);
	/* node-a: one block allowed */
	for (int i = 0; i < 4; i++) {
		snprintf(h, sizeof(h), "a%d", i);
		T_REQUIRE(alloc(&e, h, "node-a", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
		bip_alloc_result_free(&r);
	}
	T_CHECK_INT(alloc(&e, "a4", "node-a", 1, 0, &r), BIP_EBLOCKLIMIT);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "maxBlocksPerHost"), "%s", bip_ipam_errmsg(e.ip));
	/* strict, no limit: a free address in node-b's block is not borrowed */
	cfg.max_blocks_per_host = 0;
	T_REQUIRE(bip_ipam_config_set(e.ip, &cfg) == BIP_OK);
	T_REQUIRE(bip_ipam_release_handle(e.ip, "b0") == BIP_OK);
	for (int i = 4; i < 12; i++) { /* two more blocks for node-a */
		snprintf(h, sizeof(h), "a%d", i);
		T_REQUIRE(alloc(&e, h, "node-a", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
		T_CHECK(!r.v[0].borrowed, "borrowed under strict affinity");
		bip_alloc_result_free(&r);
	}
	T_CHECK_INT(alloc(&e, "a12", "node-a", 1, 0, &r), BIP_EEXHAUSTED);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "strictAffinity"), "%s", bip_ipam_errmsg(e.ip));
	/* not strict, limit reached: borrowing still serves (unlike Calico) */
	cfg.strict_affinity = false;
	cfg.max_blocks_per_host = 3;
	T_REQUIRE(bip_ipam_config_set(e.ip, &cfg) == BIP_OK);
	T_REQUIRE(alloc(&e, "a12", "node-a", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_CHECK(r.v[0].borrowed, "not borrowed");
	T_CHECK_STR(fmt(r.v[0].addr), "10.0.0.0");
	bip_alloc_result_free(&r);
	check_clean(&e);
	env_close(&e);
}

static void test_reservations(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_reservation res = {0};
	struct bip_prefix cidrs[2];
	struct bip_alloc_req req = {.handle = "s", .node = "n1"};
	struct bip_addr want;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/29", 29, NULL) == BIP_OK);
	cidrs[0] = t_prefix("10.0.0.0/30");
	cidrs[1] = t_prefix("10.0.0.5");
	res.name = "r1";
	res.cidrs = cidrs;
	res.ncidrs = 2;
	T_REQUIRE(bip_ipam_reservation_put(e.ip, &res) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	static const char *const want_addrs[] = {"10.0.0.4", "10.0.0.6", "10.0.0.7"};
	for (int i = 0; i < 3; i++) {
		char h[16];

		snprintf(h, sizeof(h), "h%d", i);
		T_REQUIRE(alloc(&e, h, "n1", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
		T_CHECK_STR(fmt(r.v[0].addr), want_addrs[i]);
		bip_alloc_result_free(&r);
	}
	T_CHECK_INT(alloc(&e, "h3", "n1", 1, 0, &r), BIP_EEXHAUSTED);
	/* a specific reserved address is refused, saying so */
	want = t_addr("10.0.0.1");
	req.ips = &want;
	req.nips = 1;
	T_CHECK_INT(bip_ipam_allocate(e.ip, &req, &r), BIP_ERESERVED);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "10.0.0.1 is reserved"), "%s",
		bip_ipam_errmsg(e.ip));
	/* host bits in a reservation are refused */
	cidrs[0] = t_prefix("10.0.0.1/30");
	T_CHECK_INT(bip_ipam_reservation_put(e.ip, &res), BIP_EHOSTBITS);
	check_clean(&e);
	env_close(&e);
}

static void test_specific_addresses(void)
{
	static const struct {
		const char *addr;
		int want;
		const char *msg;
	} rows[] = {
		{"10.0.0.9", BIP_OK, NULL},
		{"10.0.0.9", BIP_ETAKEN, "already in use by 'h0'"},
		{"10.9.0.1", BIP_ENOPOOL, "10.9.0.1 is not in any pool"},
		{"10.1.0.1", BIP_EDISABLED, "'off', which is disabled"},
		{"10.0.0.200", BIP_OK, NULL},
		{"fd00::7", BIP_OK, NULL},
	};
	struct env e;
	struct bip_pool off = {0};

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
	T_REQUIRE(t_pool(e.ip, "p6", "fd00::/120", 122, NULL) == BIP_OK);
	off.name = "off";
	off.cidr = t_prefix("10.1.0.0/24");
	off.disabled = true;
	T_REQUIRE(bip_ipam_pool_put(e.ip, &off, true) == BIP_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_alloc_result r = {0};
		struct bip_addr a = t_addr(rows[i].addr);
		char h[16];
		struct bip_alloc_req req = {.handle = h, .node = "n1", .ips = &a, .nips = 1};
		char *before = t_dump(e.st), *after;
		int rc;

		snprintf(h, sizeof(h), "h%zu", i);
		rc = bip_ipam_allocate(e.ip, &req, &r);
		T_CHECK(rc == rows[i].want, "row %zu %s: got %s (%s)", i, rows[i].addr,
			bip_errname(rc), bip_ipam_errmsg(e.ip));
		if (rows[i].msg)
			T_CHECK(strstr(bip_ipam_errmsg(e.ip), rows[i].msg), "row %zu: '%s'", i,
				bip_ipam_errmsg(e.ip));
		if (rc == BIP_OK)
			T_CHECK(r.n == 1 && bip_addr_eq(r.v[0].addr, a), "row %zu: wrong address", i);
		after = t_dump(e.st);
		if (rc != BIP_OK)
			T_CHECK(strcmp(before, after) == 0, "row %zu: store changed on error", i);
		free(before);
		free(after);
		bip_alloc_result_free(&r);
	}
	/* The block made for 10.0.0.200 belongs to the node that asked. */
	struct bip_addr_info ai;
	T_REQUIRE(bip_ipam_addr_info(e.ip, t_addr("10.0.0.200"), &ai) == BIP_OK);
	T_CHECK_STR(ai.block_node, "n1");
	T_CHECK_STR(ai.pool, "p");
	bip_addr_info_clear(&ai);
	check_clean(&e);
	env_close(&e);
}

static int put_node(struct env *e, const char *name, const char *k, const char *v)
{
	struct bip_label l = {k, v};
	struct bip_node n = {0};

	n.name = (char *)name;
	n.labels.v = k ? &l : NULL;
	n.labels.n = k ? 1 : 0;
	return bip_ipam_node_put(e->ip, &n);
}

static void test_pool_selection(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_pool man = {0};
	struct bip_namespace ns = {0};
	char *nspools[] = {"nsp"};

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "general", "10.0.0.0/16", 26, NULL) == BIP_OK);
	T_REQUIRE(t_pool(e.ip, "zone-a", "10.1.0.0/16", 26, "zone == 'a'") == BIP_OK);
	T_REQUIRE(t_pool(e.ip, "nsp", "10.2.0.0/16", 26, "!all()") == BIP_OK);
	man.name = "manual";
	man.cidr = t_prefix("10.3.0.0/16");
	man.mode = BIP_ASSIGN_MANUAL;
	T_REQUIRE(bip_ipam_pool_put(e.ip, &man, true) == BIP_OK);
	T_REQUIRE(put_node(&e, "na", "zone", "a") == BIP_OK);
	T_REQUIRE(put_node(&e, "nb", "zone", "b") == BIP_OK);
	ns.name = "team";
	ns.pools = nspools;
	ns.npools = 1;
	T_REQUIRE(bip_ipam_namespace_put(e.ip, &ns) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));

	static const struct {
		const char *handle, *node, *ns, *pool, *cfgpool;
		int want;
		const char *prefix; /* the address must start with this */
	} rows[] = {
		/* automatic: general sorts before zone-a by name; both match na */
		{"h1", "nb", NULL, NULL, NULL, BIP_OK, "10.0."},
		{"h2", "na", NULL, NULL, NULL, BIP_OK, "10.0."},
		/* namespace pools win over automatic, and ignore selectors (nsp is !all()) */
		{"h3", "nb", "team", NULL, NULL, BIP_OK, "10.2."},
		/* explicit (annotation) pools win over the namespace's */
		{"h4", "nb", "team", "zone-a", NULL, BIP_OK, "10.1."},
		/* config pools when nothing more specific */
		{"h5", "nb", NULL, NULL, "zone-a", BIP_OK, "10.1."},
		/* manual pools only by name */
		{"h6", "nb", NULL, "manual", NULL, BIP_OK, "10.3."},
		{"h7", "nb", NULL, "10.3.0.0/16", NULL, BIP_OK, "10.3."},
		{"h8", "nb", NULL, "nope", NULL, BIP_ENOPOOL, NULL},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *pools[1] = {rows[i].pool}, *cfg[1] = {rows[i].cfgpool};
		struct bip_alloc_req req = {.handle = rows[i].handle,
					    .node = rows[i].node,
					    .namespace = rows[i].ns,
					    .num4 = 1,
					    .pools = pools,
					    .npools = rows[i].pool ? 1 : 0,
					    .cfg_pools = cfg,
					    .ncfg_pools = rows[i].cfgpool ? 1 : 0};
		int rc = bip_ipam_allocate(e.ip, &req, &r);

		T_CHECK(rc == rows[i].want, "row %zu: got %s (%s)", i, bip_errname(rc),
			bip_ipam_errmsg(e.ip));
		if (rc == BIP_OK) {
			T_CHECK(strncmp(fmt(r.v[0].addr), rows[i].prefix, strlen(rows[i].prefix)) ==
					0,
				"row %zu: got %s, want %s*", i, fmt(r.v[0].addr), rows[i].prefix);
			bip_alloc_result_free(&r);
		}
	}
	/* selector picks zone-a when general is disabled */
	struct bip_pool g = {0};
	T_REQUIRE(bip_ipam_pool_get(e.ip, "general", &g) == BIP_OK);
	g.disabled = true;
	T_REQUIRE(bip_ipam_pool_put(e.ip, &g, false) == BIP_OK);
	bip_pool_clear(&g);
	T_REQUIRE(alloc(&e, "h9", "na", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_CHECK(strncmp(fmt(r.v[0].addr), "10.1.", 5) == 0, "got %s", fmt(r.v[0].addr));
	bip_alloc_result_free(&r);
	T_CHECK_INT(alloc(&e, "h10", "nb", 1, 0, &r), BIP_ENOPOOL);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "node 'nb'"), "%s", bip_ipam_errmsg(e.ip));
	/* explicit pools bypass selectors but not disabled */
	const char *gp[] = {"general"};
	struct bip_alloc_req req = {.handle = "h11", .node = "nb", .num4 = 1, .pools = gp,
				    .npools = 1};
	T_CHECK_INT(bip_ipam_allocate(e.ip, &req, &r), BIP_EDISABLED);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "'general'"), "%s", bip_ipam_errmsg(e.ip));
	check_clean(&e);
	env_close(&e);
}

static void test_dual_stack_and_idempotence(void)
{
	struct env e;
	struct bip_alloc_result r, r2;
	struct bip_handle_info hi;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "v4", "10.0.0.0/16", 26, NULL) == BIP_OK);
	T_REQUIRE(t_pool(e.ip, "v6", "fd00:1::/64", 122, NULL) == BIP_OK);
	T_REQUIRE(alloc(&e, "net.c1.eth0", "n1", 1, 1, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_REQUIRE(r.n == 2);
	T_CHECK_INT(r.v[0].addr.family, 4);
	T_CHECK_INT(r.v[1].addr.family, 6);
	T_CHECK_INT(r.v[0].block.len, 26);
	T_CHECK_INT(r.v[1].block.len, 122);
	T_CHECK(!r.existing, "first allocation marked existing");
	T_REQUIRE(alloc(&e, "net.c1.eth0", "n1", 1, 1, &r2) == BIP_OK);
	T_CHECK(r2.existing, "repeat not marked existing");
	T_CHECK(r2.n == 2 && bip_addr_eq(r.v[0].addr, r2.v[0].addr) &&
			bip_addr_eq(r.v[1].addr, r2.v[1].addr),
		"repeat returned other addresses");
	T_CHECK(bip_prefix_eq(r2.v[0].block, r.v[0].block), "repeat: other block");
	bip_alloc_result_free(&r2);
	/* a repeat asking for v4 only still returns what it holds, no more */
	T_REQUIRE(alloc(&e, "net.c1.eth0", "n1", 1, 0, &r2) == BIP_OK);
	T_CHECK_INT(r2.n, 2);
	bip_alloc_result_free(&r2);
	T_REQUIRE(bip_ipam_handle_get(e.ip, "net.c1.eth0", &hi) == BIP_OK);
	T_CHECK_INT(hi.naddrs, 2);
	T_CHECK_STR(hi.node, "n1");
	bip_handle_info_clear(&hi);
	/* v4 only first, then v6 added by a later request for both */
	T_REQUIRE(alloc(&e, "net.c2.eth0", "n1", 1, 0, &r2) == BIP_OK);
	bip_alloc_result_free(&r2);
	T_REQUIRE(alloc(&e, "net.c2.eth0", "n1", 1, 1, &r2) == BIP_OK);
	T_CHECK_INT(r2.n, 2);
	bip_alloc_result_free(&r2);
	/* several addresses per request */
	T_REQUIRE(alloc(&e, "multi", "n1", 3, 2, &r2) == BIP_OK);
	T_CHECK_INT(r2.n, 5);
	bip_alloc_result_free(&r2);
	bip_alloc_result_free(&r);
	check_clean(&e);
	/* no v6 pool for this node: the whole request fails, v4 included */
	struct bip_pool p6 = {0};
	T_REQUIRE(bip_ipam_pool_get(e.ip, "v6", &p6) == BIP_OK);
	p6.disabled = true;
	T_REQUIRE(bip_ipam_pool_put(e.ip, &p6, false) == BIP_OK);
	bip_pool_clear(&p6);
	char *before = t_dump(e.st), *after;
	T_CHECK_INT(alloc(&e, "net.c3.eth0", "n1", 1, 1, &r2), BIP_ENOPOOL);
	after = t_dump(e.st);
	T_CHECK(strcmp(before, after) == 0, "a failed dual-stack request changed the store");
	free(before);
	free(after);
	env_close(&e);
}

static void test_release(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_addr a;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
	T_REQUIRE(alloc(&e, "old", "n1", 1, 0, &r) == BIP_OK);
	a = r.v[0].addr;
	bip_alloc_result_free(&r);
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "old"), BIP_OK);
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "old"), BIP_ENOTFOUND);
	T_CHECK_INT(bip_ipam_release_addr(e.ip, a, NULL), BIP_ENOTFOUND);
	/* the address goes to someone else: a release expecting the old owner is refused */
	struct bip_alloc_req req = {.handle = "new", .node = "n1", .ips = &a, .nips = 1};
	T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK);
	bip_alloc_result_free(&r);
	char *before = t_dump(e.st), *after;
	T_CHECK_INT(bip_ipam_release_addr(e.ip, a, "old"), BIP_EOWNER);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "now held by 'new'"), "%s", bip_ipam_errmsg(e.ip));
	after = t_dump(e.st);
	T_CHECK(strcmp(before, after) == 0, "refused release changed the store");
	free(before);
	free(after);
	T_CHECK_INT(bip_ipam_release_addr(e.ip, a, "new"), BIP_OK);
	T_CHECK_INT(bip_ipam_handle_get(e.ip, "new", &(struct bip_handle_info){0}), BIP_ENOTFOUND);
	/* release by address of a handle with two addresses keeps the other */
	T_REQUIRE(alloc(&e, "two", "n1", 2, 0, &r) == BIP_OK);
	T_CHECK_INT(bip_ipam_release_addr(e.ip, r.v[0].addr, NULL), BIP_OK);
	struct bip_handle_info hi;
	T_REQUIRE(bip_ipam_handle_get(e.ip, "two", &hi) == BIP_OK);
	T_CHECK(hi.naddrs == 1 && bip_addr_eq(hi.addrs[0].addr, r.v[1].addr), "wrong remainder");
	bip_handle_info_clear(&hi);
	bip_alloc_result_free(&r);
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "bad/handle"), BIP_EINVAL);
	check_clean(&e);
	env_close(&e);
}

static void test_node_release_and_empty_blocks(void)
{
	struct env e;
	struct bip_alloc_result r;
	size_t rel = 0, del = 0;
	char h[16];

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 30, NULL) == BIP_OK);
	for (int i = 0; i < 8; i++) { /* two full blocks */
		snprintf(h, sizeof(h), "h%d", i);
		T_REQUIRE(alloc(&e, h, "gone", 1, 0, &r) == BIP_OK);
		bip_alloc_result_free(&r);
	}
	for (int i = 0; i < 4; i++) { /* empty the first block */
		snprintf(h, sizeof(h), "h%d", i);
		T_REQUIRE(bip_ipam_release_handle(e.ip, h) == BIP_OK);
	}
	T_REQUIRE(bip_ipam_node_release(e.ip, "gone", &rel, &del) == BIP_OK);
	T_CHECK_INT(rel, 2);
	T_CHECK_INT(del, 1);
	struct bip_block_info *bl;
	size_t n;
	T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &n) == BIP_OK);
	T_CHECK_INT(n, 1);
	T_CHECK(n == 1 && bl[0].node == NULL, "non-empty block still owned");
	bip_block_infos_free(bl, n);
	check_clean(&e);
	/* another node borrows from the unowned block once an address is free */
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h4") == BIP_OK);
	/* the unowned block goes away with its last address */
	for (int i = 5; i < 8; i++) {
		snprintf(h, sizeof(h), "h%d", i);
		T_REQUIRE(bip_ipam_release_handle(e.ip, h) == BIP_OK);
	}
	T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &n) == BIP_OK);
	T_CHECK_INT(n, 0);
	bip_block_infos_free(bl, n);
	/* empty blocks of a live node are kept until old enough */
	T_REQUIRE(alloc(&e, "x", "live", 1, 0, &r) == BIP_OK);
	bip_alloc_result_free(&r);
	T_REQUIRE(bip_ipam_release_handle(e.ip, "x") == BIP_OK);
	T_REQUIRE(bip_ipam_release_empty_blocks(e.ip, 3600, &del) == BIP_OK);
	T_CHECK_INT(del, 0);
	T_REQUIRE(bip_ipam_release_empty_blocks(e.ip, 0, &del) == BIP_OK);
	T_CHECK_INT(del, 1);
	check_clean(&e);
	env_close(&e);
}

static void test_pool_delete(void)
{
	struct env e;
	struct bip_alloc_result r;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 30, NULL) == BIP_OK);
	T_REQUIRE(alloc(&e, "keep", "n1", 1, 0, &r) == BIP_OK);
	bip_alloc_result_free(&r);
	T_REQUIRE(alloc(&e, "other", "n2", 1, 0, &r) == BIP_OK);
	bip_alloc_result_free(&r);
	T_REQUIRE(bip_ipam_release_handle(e.ip, "other") == BIP_OK);
	T_REQUIRE(bip_ipam_pool_delete(e.ip, "p") == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	struct bip_block_info *bl;
	size_t n;
	T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &n) == BIP_OK);
	T_CHECK_INT(n, 1); /* the empty block went, keep's stays unowned */
	T_CHECK(n == 1 && !bl[0].node && !bl[0].pool, "block not unowned/orphaned");
	bip_block_infos_free(bl, n);
	T_CHECK_INT(bip_ipam_pool_get(e.ip, "p", &(struct bip_pool){0}), BIP_ENOTFOUND);
	/* the check reports the orphaned block; releasing its address removes it */
	struct bip_check_report rep;
	T_REQUIRE(bip_ipam_check(e.ip, false, &rep) == BIP_OK);
	T_CHECK(rep.n == 1 && rep.v[0].kind == BIP_PROB_BLOCK_NO_POOL, "got %zu problems", rep.n);
	bip_check_report_free(&rep);
	/* a pool of another block size over the orphan is refused until it is gone */
	T_CHECK_INT(t_pool(e.ip, "q", "10.0.0.0/24", 26, NULL), BIP_EOVERLAP);
	T_REQUIRE(bip_ipam_release_handle(e.ip, "keep") == BIP_OK);
	T_CHECK_INT(t_pool(e.ip, "q", "10.0.0.0/24", 26, NULL), BIP_OK);
	check_clean(&e);
	env_close(&e);
}

/* A forced delete releases what the pool's blocks hold: no block outlives its pool. */
static void test_pool_delete_force(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_handle_info h = {0};
	struct bip_block_info *bl;
	size_t n, released = 0;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 28, NULL) == BIP_OK);
	T_REQUIRE(t_pool(e.ip, "v6", "fd00::/64", 122, NULL) == BIP_OK);
	T_REQUIRE(alloc(&e, "a", "n1", 2, 0, &r) == BIP_OK); /* p only */
	bip_alloc_result_free(&r);
	T_REQUIRE(alloc(&e, "b", "n2", 1, 1, &r) == BIP_OK); /* p and v6 */
	bip_alloc_result_free(&r);
	T_REQUIRE(bip_ipam_pool_delete_force(e.ip, "p", true, &released) == BIP_OK, "%s",
		  bip_ipam_errmsg(e.ip));
	T_CHECK_INT(released, 3);
	T_CHECK_INT(bip_ipam_pool_get(e.ip, "p", &(struct bip_pool){0}), BIP_ENOTFOUND);
	T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &n) == BIP_OK);
	T_CHECK(n == 1 && bl[0].cidr.addr.family == 6, "%zu blocks left, want v6's one", n);
	bip_block_infos_free(bl, n);
	/* a handle left with nothing goes; one with an address elsewhere keeps that one */
	T_CHECK_INT(bip_ipam_handle_get(e.ip, "a", &h), BIP_ENOTFOUND);
	T_REQUIRE(bip_ipam_handle_get(e.ip, "b", &h) == BIP_OK);
	T_CHECK(h.naddrs == 1 && h.addrs[0].addr.family == 6, "b holds %zu", h.naddrs);
	bip_handle_info_clear(&h);
	check_clean(&e);
	/* without release it is the plain delete; a missing pool is ENOTFOUND */
	T_CHECK_INT(bip_ipam_pool_delete_force(e.ip, "p", true, NULL), BIP_ENOTFOUND);
	env_close(&e);
}

/* The automatic level's rule, as STATUS asks it of one pool. */
static void test_pool_selects(void)
{
	static const struct bip_label zone_a[] = {{"zone", "a"}};
	static const struct bip_label team_x[] = {{"team", "x"}};
	const struct bip_label_set za = {(struct bip_label *)zone_a, 1};
	const struct bip_label_set tx = {(struct bip_label *)team_x, 1};
	static const struct {
		const char *sel, *ns_sel;
		bool disabled, manual;
		unsigned uses;
		const char *node;
		bool labels, with_ns;
		bool want;
	} rows[] = {
	    {NULL, NULL, false, false, 0, "n1", false, false, true},
	    {"kubernetes.io/hostname == 'n1'", NULL, false, false, 0, "n1", false, false, true},
	    {"kubernetes.io/hostname == 'n1'", NULL, false, false, 0, "n2", false, false, false},
	    {"zone == 'a'", NULL, false, false, 0, "n1", true, false, true},
	    {"zone == 'a'", NULL, false, false, 0, "n1", false, false, false},
	    {NULL, NULL, true, false, 0, "n1", false, false, false},
	    {NULL, NULL, false, true, 0, "n1", false, false, false},
	    {NULL, NULL, false, false, BIP_USE_TUNNEL, "n1", false, false, false},
	    /* no namespace: its selector is not judged; with one, it is */
	    {NULL, "team == 'x'", false, false, 0, "n1", false, false, true},
	    {NULL, "team == 'x'", false, false, 0, "n1", false, true, true},
	    {NULL, "kubernetes.io/metadata.name == 'other'", false, false, 0, "n1", false, true,
	     false},
	};
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_pool p = {.cidr = t_prefix("10.0.0.0/16"), .block_len = 26};
		bool got = !rows[i].want;

		p.node_selector = (char *)rows[i].sel;
		p.ns_selector = (char *)rows[i].ns_sel;
		p.disabled = rows[i].disabled;
		p.mode = rows[i].manual ? BIP_ASSIGN_MANUAL : BIP_ASSIGN_AUTOMATIC;
		p.allowed_uses = rows[i].uses;
		T_CHECK_INT(bip_ipam_pool_selects(e.ip, &p, BIP_USE_WORKLOAD, rows[i].node,
						  rows[i].labels ? &za : NULL,
						  rows[i].with_ns ? "ns1" : NULL, &tx, &got),
			    BIP_OK);
		T_CHECK(got == rows[i].want, "row %zu: got %d", i, got);
	}
	env_close(&e);
}

static void test_host_local_ranges(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_range rg[3] = {0};

	T_REQUIRE(env_open(&e) == 0);
	rg[0].subnet = t_prefix("10.99.0.0/29");
	rg[0].start = t_addr("10.99.0.2");
	rg[0].end = t_addr("10.99.0.3");
	rg[0].gateway = t_addr("10.99.0.1");
	rg[1].subnet = t_prefix("10.99.1.0/29"); /* second range of set 0 */
	rg[1].gateway = t_addr("10.99.1.1");
	rg[2].subnet = t_prefix("fd99::/120");
	rg[2].set = 1;
	struct bip_alloc_req req = {.handle = "c1", .node = "n1", .ranges = rg, .nranges = 3};
	T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_REQUIRE(r.n == 2);
	T_CHECK_STR(fmt(r.v[0].addr), "10.99.0.2");
	T_CHECK_INT(r.v[0].range_index, 0);
	T_CHECK_INT(r.v[1].addr.family, 6);
	bip_alloc_result_free(&r);
	req.handle = "c2";
	T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK);
	T_CHECK_STR(fmt(r.v[0].addr), "10.99.0.3");
	bip_alloc_result_free(&r);
	req.handle = "c3"; /* first range full: the second one serves, gateway skipped */
	T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK);
	T_CHECK_STR(fmt(r.v[0].addr), "10.99.1.0");
	bip_alloc_result_free(&r);
	req.handle = "c4";
	T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK);
	T_CHECK_STR(fmt(r.v[0].addr), "10.99.1.2");
	bip_alloc_result_free(&r);
	env_close(&e);
}

/* One host-local allocation with a range, for the sub-block tests below. */
static const char *alloc_in(struct env *e, const char *handle, const struct bip_range *rg)
{
	struct bip_alloc_req req = {.handle = handle, .node = "n1", .ranges = rg, .nranges = 1};
	struct bip_alloc_result r = {0};
	static char buf[BIP_ADDR_STRLEN];

	if (bip_ipam_allocate(e->ip, &req, &r) != BIP_OK || r.n != 1)
		snprintf(buf, sizeof(buf), "error: %s", bip_ipam_errmsg(e->ip));
	else
		bip_addr_fmt(r.v[0].addr, buf);
	bip_alloc_result_free(&r);
	return buf;
}

/* A range larger than 2^8 addresses is kept in sub-blocks of 2^8, made in order as they fill;
 * the walk starts at the newest, so an allocation reads one, and wraps to the first at the end
 * of the range (host-local's round robin); sub-blocks of 2^16 made by an earlier version stay. */
static void test_range_sub_blocks(void)
{
	struct env e;
	struct bip_range rg = {0};
	char h[32], *before;
	const char *got = "";

	T_REQUIRE(env_open(&e) == 0);
	/* fd98::/118 is four /120 sub-blocks; the range is fd98::fe - fd98::201 */
	rg.subnet = t_prefix("fd98::/118");
	rg.start = t_addr("fd98::fe");
	rg.end = t_addr("fd98::201");
	rg.gateway = t_addr("fd98::1");
	T_CHECK_STR(alloc_in(&e, "s0", &rg), "fd98::fe");
	T_CHECK_STR(alloc_in(&e, "s1", &rg), "fd98::ff");
	for (int i = 0; i < 256; i++) {
		snprintf(h, sizeof(h), "m%d", i);
		got = alloc_in(&e, h, &rg);
	}
	T_CHECK_STR(got, "fd98::1ff");
	/* released in the first sub-block: not reused before the walk wraps */
	T_REQUIRE(bip_ipam_release_handle(e.ip, "s0") == BIP_OK);
	T_CHECK_STR(alloc_in(&e, "t0", &rg), "fd98::200");
	T_CHECK_STR(alloc_in(&e, "t1", &rg), "fd98::201");
	T_CHECK_STR(alloc_in(&e, "t2", &rg), "fd98::fe");
	before = t_dump(e.st);
	T_CHECK(strstr(alloc_in(&e, "t3", &rg), "no free address in range set 0"), "full");
	{
		char *after = t_dump(e.st);

		T_CHECK(strcmp(before, after) == 0, "a failed allocation changed the store");
		free(after);
	}
	T_CHECK(strstr(before, "blocks/fd98::100-120="), "no /120 sub-block");
	free(before);
	check_clean(&e);
	/* a range already kept whole (a /16 block, as an earlier version made it) stays whole;
	 * an earlier version wrote no format record and no block index (the upgrade builds it) */
	T_REQUIRE(t_del(e.st, "format") == BIP_OK);
	T_REQUIRE(t_put(e.st, "blocks/10.97.0.0-16",
			"{\"cidr\":\"10.97.0.0/16\",\"node\":\"n1\",\"claimed\":1,"
			"\"hostLocal\":true,\"alloc\":[[2,\"old\"]]}") == BIP_OK);
	T_REQUIRE(t_put(e.st, "affinity/n1/10.97.0.0-16", "{\"state\":\"confirmed\"}") == BIP_OK);
	T_REQUIRE(t_put(e.st, "handles/old", "{\"ips\":[\"10.97.0.2/16\"],\"node\":\"n1\"}") ==
		  BIP_OK);
	memset(&rg, 0, sizeof(rg));
	rg.subnet = t_prefix("10.97.0.0/16");
	rg.start = t_addr("10.97.0.1");
	rg.end = t_addr("10.97.255.254");
	rg.gateway = t_addr("10.97.0.1");
	T_CHECK_STR(alloc_in(&e, "legacy", &rg), "10.97.0.3");
	{
		struct bip_alloc_req req = {.handle = "legacy-req", .node = "n1", .ranges = &rg,
					    .nranges = 1, .ips = (struct bip_addr[]){t_addr("10.97.7.7")},
					    .nips = 1};
		struct bip_alloc_result r = {0};

		T_CHECK_INT(bip_ipam_allocate(e.ip, &req, &r), BIP_OK);
		T_CHECK(r.n == 1 && r.v[0].block.len == 16 && r.v[0].range.len == 16, "%s",
			bip_ipam_errmsg(e.ip));
		bip_alloc_result_free(&r);
	}
	{
		char *d = t_dump(e.st);

		T_CHECK(!strstr(d, "blocks/10.97.0.0-24") && !strstr(d, "blocks/10.97.7.0-24"), "%s", d);
		free(d);
	}
	check_clean(&e);
	env_close(&e);
}

/* A pod CIDR that changes takes every empty sub-block of the old one with it, however many. */
static void test_pod_cidr_change_drops_sub_blocks(void)
{
	struct env e;
	struct bip_node n = {0};
	struct bip_prefix pc = t_prefix("fd00:96::/64");
	char *d;

	T_REQUIRE(env_open(&e) == 0);
	n.name = "n1";
	n.pod_cidrs = &pc;
	n.npod_cidrs = 1;
	T_REQUIRE(bip_ipam_node_put(e.ip, &n) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	for (int i = 0; i < 40; i++) { /* 40 sub-blocks, one address each, then released */
		char h[16], a[64];
		struct bip_addr ip;
		struct bip_alloc_req req = {.handle = h, .node = "n1", .ips = &ip, .nips = 1};
		struct bip_alloc_result r = {0};

		snprintf(h, sizeof(h), "p%d", i);
		snprintf(a, sizeof(a), "fd00:96::%x:5", i + 1);
		ip = t_addr(a);
		T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
		bip_alloc_result_free(&r);
		T_REQUIRE(bip_ipam_release_handle(e.ip, h) == BIP_OK);
	}
	pc = t_prefix("fd00:97::/64");
	T_REQUIRE(bip_ipam_node_put(e.ip, &n) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	d = t_dump(e.st);
	T_CHECK(!strstr(d, "fd00:96:"), "blocks of the old pod CIDR are left: %s", d);
	free(d);
	check_clean(&e);
	env_close(&e);
}

static void test_pod_cidr_mode(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_node n = {0};
	struct bip_prefix pc = t_prefix("10.244.1.0/30");

	T_REQUIRE(env_open(&e) == 0);
	n.name = "n1";
	n.pod_cidrs = &pc;
	n.npod_cidrs = 1;
	T_REQUIRE(bip_ipam_node_put(e.ip, &n) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_REQUIRE(alloc(&e, "a", "n1", 1, 0, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_CHECK_STR(fmt(r.v[0].addr), "10.244.1.2"); /* .0 network, .1 gateway */
	bip_alloc_result_free(&r);
	T_CHECK_INT(alloc(&e, "b", "n1", 1, 0, &r), BIP_EEXHAUSTED);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "pod CIDR 10.244.1.0/30 of node 'n1'"), "%s",
		bip_ipam_errmsg(e.ip));
	/* the pod CIDR cannot change while an address from it is held */
	pc = t_prefix("10.244.2.0/24");
	T_CHECK_INT(bip_ipam_node_put(e.ip, &n), BIP_EBUSY);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "cannot change while 1 addresses"), "%s",
		bip_ipam_errmsg(e.ip));
	T_REQUIRE(bip_ipam_release_handle(e.ip, "a") == BIP_OK);
	T_CHECK_INT(bip_ipam_node_put(e.ip, &n), BIP_OK);
	/* an IPv6 /64 pod CIDR (Kubernetes' default size) is kept in /120 sub-blocks */
	struct bip_prefix pcs[2] = {t_prefix("10.244.2.0/24"), t_prefix("fd00:244:2::/64")};
	n.pod_cidrs = pcs;
	n.npod_cidrs = 2;
	T_REQUIRE(bip_ipam_node_put(e.ip, &n) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_REQUIRE(alloc(&e, "d", "n1", 1, 1, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	T_CHECK_STR(fmt(r.v[1].addr), "fd00:244:2::2");
	T_CHECK_INT(r.v[1].block.len, 120);
	T_CHECK_INT(r.v[1].range.len, 64);
	bip_alloc_result_free(&r);
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "d"), BIP_OK);
	check_clean(&e);
	env_close(&e);
}

static void test_check_and_repair(void)
{
	struct env e;
	struct bip_alloc_result r;
	struct bip_check_report rep;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
	T_REQUIRE(alloc(&e, "h1", "n1", 1, 0, &r) == BIP_OK);
	char n3key[128], kp[BIP_PREFIX_STRLEN], *dash;
	bip_prefix_fmt(r.v[0].block, kp);
	dash = strchr(kp, '/');
	*dash = '-';
	snprintf(n3key, sizeof(n3key), "affinity/n3/%s", kp);
	bip_alloc_result_free(&r);
	T_REQUIRE(alloc(&e, "h2", "n1", 1, 0, &r) == BIP_OK);
	bip_alloc_result_free(&r);
	check_clean(&e);
	/* break things the way crashes of other IPAMs do */
	T_REQUIRE(t_del(e.st, "handles/h1") == BIP_OK);                       /* leak */
	T_REQUIRE(t_put(e.st, "handles/ghost", "{\"ips\":[\"10.0.0.50/26\"],\"time\":1}") ==
		  BIP_OK);                                                    /* dangling */
	T_REQUIRE(t_put(e.st, "affinity/n2/10.0.1.0-26", "{\"state\":\"confirmed\"}") == BIP_OK);
	T_REQUIRE(t_put(e.st, n3key, "{\"state\":\"confirmed\"}") == BIP_OK);
	T_REQUIRE(t_put(e.st, "affinity/n4/10.0.2.0-26", "{\"state\":\"pending\"}") == BIP_OK);
	T_REQUIRE(t_put(e.st, "blocks/10.9.0.0-26",
			"{\"cidr\":\"10.9.0.0/26\",\"alloc\":[[1,\"h9\"]]}") == BIP_OK);
	T_REQUIRE(t_put(e.st, "handles/h9", "{\"ips\":[\"10.9.0.1/26\"]}") == BIP_OK);
	T_REQUIRE(t_put(e.st, "blocks/10.0.3.0-26", "{\"cidr\":\"garbage\"}") == BIP_OK);
	T_REQUIRE(bip_ipam_check(e.ip, false, &rep) == BIP_OK);
	int seen[16] = {0};
	for (size_t i = 0; i < rep.n; i++) {
		seen[rep.v[i].kind]++;
		printf("   %s %s: %s\n", bip_problem_name(rep.v[i].kind), rep.v[i].key,
		       rep.v[i].detail);
	}
	T_CHECK_INT(seen[BIP_PROB_ADDR_NO_HANDLE], 1);
	T_CHECK_INT(seen[BIP_PROB_HANDLE_DANGLING], 1);
	T_CHECK_INT(seen[BIP_PROB_AFFINITY_NO_BLOCK], 1);
	T_CHECK_INT(seen[BIP_PROB_BLOCK_TWO_OWNERS], 1);
	T_CHECK_INT(seen[BIP_PROB_AFFINITY_PENDING], 1);
	T_CHECK_INT(seen[BIP_PROB_BLOCK_NO_POOL], 1);
	T_CHECK_INT(seen[BIP_PROB_BLOCK_CORRUPT], 1);
	bip_check_report_free(&rep);
	T_REQUIRE(bip_ipam_check(e.ip, true, &rep) == BIP_OK);
	size_t unrepaired = 0;
	for (size_t i = 0; i < rep.n; i++)
		unrepaired += !rep.v[i].repaired;
	T_CHECK_INT(unrepaired, 2); /* the orphan block and the corrupt record need a human */
	bip_check_report_free(&rep);
	T_REQUIRE(bip_ipam_check(e.ip, false, &rep) == BIP_OK);
	T_CHECK_INT(rep.n, 2);
	bip_check_report_free(&rep);
	/* the leaked address got its owner record back, on the node that holds it (else no
	 * node's gc would take it), so it can be released normally */
	struct bip_handle_info hi = {0};
	T_REQUIRE(bip_ipam_handle_get(e.ip, "h1", &hi) == BIP_OK);
	T_CHECK_STR(hi.node ? hi.node : "(none)", "n1");
	bip_handle_info_clear(&hi);
	T_CHECK_INT(bip_ipam_release_handle(e.ip, "h1"), BIP_OK);
	env_close(&e);
}

static void test_bad_requests_change_nothing(void)
{
	static const struct {
		const char *handle, *node;
		unsigned n4;
		int want;
	} rows[] = {
		{"", "n1", 1, BIP_EINVAL},
		{"a/b", "n1", 1, BIP_EINVAL},
		{"..", "n1", 1, BIP_EINVAL},
		{"ok", "", 1, BIP_EINVAL},
		{"ok", "bad/node", 1, BIP_EINVAL},
		{"ok", "-lead", 1, BIP_EINVAL},
		{"ok", "n1", 100000, BIP_EINVAL},
		{"sp ace", "n1", 1, BIP_EINVAL},
	};
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_alloc_result r;
		char *before = t_dump(e.st), *after;

		T_CHECK_INT(alloc(&e, rows[i].handle, rows[i].node, rows[i].n4, 0, &r),
			    rows[i].want);
		after = t_dump(e.st);
		T_CHECK(strcmp(before, after) == 0, "row %zu changed the store", i);
		free(before);
		free(after);
	}
	env_close(&e);
}

/* Every library allocation failing in turn: an error, and the store exactly as before. */
static void test_out_of_memory(void)
{
	struct env e;
	struct bip_alloc_result r;
	long n;
	int failures = 0;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/24", 26, NULL) == BIP_OK);
	T_REQUIRE(t_pool(e.ip, "p6", "fd00::/64", 122, NULL) == BIP_OK);
	for (n = 1; n < 10000; n++) {
		char *before = t_dump(e.st), *after;
		int rc;

		bip_ipam_fail_alloc_after(e.ip, n);
		rc = alloc(&e, "oom", "n1", 2, 1, &r);
		bip_ipam_fail_alloc_after(e.ip, 0);
		if (rc == BIP_OK) {
			bip_alloc_result_free(&r);
			free(before);
			break;
		}
		failures++;
		T_CHECK(rc == BIP_ENOMEM, "n=%ld: got %s", n, bip_errname(rc));
		after = t_dump(e.st);
		T_CHECK(strcmp(before, after) == 0, "n=%ld: store changed", n);
		free(before);
		free(after);
	}
	T_CHECK(failures > 10, "only %d injection points", failures);
	for (n = 1; n < 10000; n++) {
		int rc;

		bip_ipam_fail_alloc_after(e.ip, n);
		rc = bip_ipam_release_handle(e.ip, "oom");
		bip_ipam_fail_alloc_after(e.ip, 0);
		if (rc == BIP_OK)
			break;
		T_CHECK(rc == BIP_ENOMEM, "release n=%ld: got %s", n, bip_errname(rc));
	}
	check_clean(&e);
	printf("   out-of-memory points injected: %d (allocate) + %ld (release)\n", failures,
	       n - 1);
	env_close(&e);
}

T_MAIN(T(test_pool_validation), T(test_pool_immutable_fields), T(test_fill_block_before_claiming),
       T(test_reuse_order), T(test_two_nodes_and_borrowing),
       T(test_strict_affinity_and_block_limit), T(test_reservations), T(test_specific_addresses),
       T(test_pool_selection), T(test_dual_stack_and_idempotence), T(test_release),
       T(test_node_release_and_empty_blocks), T(test_pool_delete), T(test_pool_delete_force),
       T(test_pool_selects), T(test_host_local_ranges),
       T(test_range_sub_blocks), T(test_pod_cidr_change_drops_sub_blocks),
       T(test_pod_cidr_mode), T(test_check_and_repair), T(test_bad_requests_change_nothing),
       T(test_out_of_memory))
