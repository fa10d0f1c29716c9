/*
 * Calico parity (issue 14, item 4), on a real SQLite file: allowedUses for specific addresses,
 * usage figures that count each address once, a pool whose nodeSelector stops selecting a node,
 * the release of long-empty blocks (emptyBlockReleaseSeconds, reclaim by a node in need), and
 * the address cooldown (ipCooldownSeconds). Every test starts from an empty store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

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

static const char *fmt(struct bip_addr a)
{
	static char buf[4][BIP_ADDR_STRLEN];
	static int k;

	return bip_addr_fmt(a, buf[k++ & 3]);
}

static int alloc(struct env *e, const char *handle, const char *node, unsigned n4,
		 struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = handle, .node = node, .num4 = n4};

	memset(res, 0, sizeof(*res));
	return bip_ipam_allocate(e->ip, &req, res);
}

/* Allocate one address on node and say which ("" on failure). */
static const char *alloc1(struct env *e, const char *handle, const char *node)
{
	static char buf[BIP_ADDR_STRLEN];
	struct bip_alloc_result r;

	buf[0] = '\0';
	if (alloc(e, handle, node, 1, &r) == BIP_OK && r.n == 1)
		bip_addr_fmt(r.v[0].addr, buf);
	bip_alloc_result_free(&r);
	return buf;
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

static int pool_uses(struct env *e, const char *name, const char *cidr, unsigned block,
		     unsigned uses)
{
	struct bip_pool p = {0};

	p.name = (char *)name;
	p.cidr = t_prefix(cidr);
	p.block_len = block;
	p.allowed_uses = uses;
	return bip_ipam_pool_put(e->ip, &p, false);
}

/* --- 1. allowedUses for specific addresses -------------------------------------------------- */

static void test_specific_address_allowed_uses(void)
{
	static const struct {
		const char *addr;
		enum bip_use use; /* 0 = Workload */
		int want;
		const char *msg;
	} rows[] = {
	    {"10.1.0.5", 0, BIP_ENOPOOL,
	     "10.1.0.5 is in pool 'tunnels', whose allowedUses (Tunnel) do not include Workload"},
	    {"10.1.0.5", BIP_USE_WORKLOAD, BIP_ENOPOOL, "allowedUses (Tunnel)"},
	    {"10.2.0.5", 0, BIP_ENOPOOL,
	     "pool 'lb', whose allowedUses (LoadBalancer) do not include Workload"},
	    {"10.1.0.5", BIP_USE_TUNNEL, BIP_OK, NULL},
	    {"10.2.0.6", BIP_USE_LOADBALANCER, BIP_OK, NULL},
	    {"10.0.0.5", 0, BIP_OK, NULL},
	    {"10.0.0.6", BIP_USE_TUNNEL, BIP_OK, NULL}, /* default [Workload, Tunnel] */
	    {"10.0.0.7", BIP_USE_LOADBALANCER, BIP_ENOPOOL,
	     "allowedUses (Workload, Tunnel) do not include LoadBalancer"},
	};
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "default", "10.0.0.0/24", 26, NULL) == BIP_OK);
	T_REQUIRE(pool_uses(&e, "tunnels", "10.1.0.0/24", 26, BIP_USE_TUNNEL) == BIP_OK);
	T_REQUIRE(pool_uses(&e, "lb", "10.2.0.0/24", 26, BIP_USE_LOADBALANCER) == BIP_OK, "%s",
		  bip_ipam_errmsg(e.ip));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_alloc_result r = {0};
		struct bip_addr a = t_addr(rows[i].addr);
		char h[16];
		struct bip_alloc_req req = {
		    .handle = h, .node = "n1", .use = rows[i].use, .ips = &a, .nips = 1};
		char *before = t_dump(e.st), *after;
		int rc;

		snprintf(h, sizeof(h), "h%zu", i);
		rc = bip_ipam_allocate(e.ip, &req, &r);
		T_CHECK(rc == rows[i].want, "row %zu %s: got %s (%s)", i, rows[i].addr,
			bip_errname(rc), bip_ipam_errmsg(e.ip));
		if (rows[i].msg)
			T_CHECK(strstr(bip_ipam_errmsg(e.ip), rows[i].msg), "row %zu: '%s'", i,
				bip_ipam_errmsg(e.ip));
		after = t_dump(e.st);
		if (rc != BIP_OK)
			T_CHECK(strcmp(before, after) == 0, "row %zu: store changed on error", i);
		free(before);
		free(after);
		bip_alloc_result_free(&r);
	}
	check_clean(&e);
	env_close(&e);
}

/* --- 2. usage counts each address once ------------------------------------------------------ */

static int reserve(struct env *e, const char *name, const char *const *cidrs, size_t n)
{
	struct bip_reservation r = {0};
	struct bip_prefix v[8];

	for (size_t i = 0; i < n; i++)
		v[i] = t_prefix(cidrs[i]);
	r.name = (char *)name;
	r.cidrs = v;
	r.ncidrs = n;
	return bip_ipam_reservation_put(e->ip, &r);
}

struct usage_want {
	const char *pool;
	unsigned long long capacity, used, reserved, free;
};

static void check_usage(struct env *e, const char *what, const struct usage_want *w, size_t nw)
{
	struct bip_pool_usage *u = NULL;
	size_t n = 0;

	T_REQUIRE(bip_ipam_usage(e->ip, &u, &n) == BIP_OK, "%s", bip_ipam_errmsg(e->ip));
	for (size_t k = 0; k < nw; k++) {
		bool found = false;

		for (size_t i = 0; i < n; i++) {
			if (!u[i].name || strcmp(u[i].name, w[k].pool) != 0)
				continue;
			found = true;
			T_CHECK(
			    u[i].capacity == w[k].capacity && u[i].used == w[k].used &&
				u[i].reserved == w[k].reserved && u[i].free == w[k].free,
			    "%s: pool %s: capacity %llu used %llu reserved %llu free %llu, want "
			    "%llu %llu %llu %llu",
			    what, w[k].pool, (unsigned long long)u[i].capacity,
			    (unsigned long long)u[i].used, (unsigned long long)u[i].reserved,
			    (unsigned long long)u[i].free, w[k].capacity, w[k].used, w[k].reserved,
			    w[k].free);
			T_CHECK(u[i].used + u[i].reserved + u[i].free == u[i].capacity,
				"%s: pool %s does not add up", what, w[k].pool);
		}
		T_CHECK(found, "%s: no row for pool %s", what, w[k].pool);
	}
	bip_pool_usages_free(u, n);
}

static void test_usage_counts_each_address_once(void)
{
	static const char *const r25[] = {"10.0.0.0/25"}, *const r32[] = {"10.0.0.3/32"},
				 *const r26[] = {"10.0.0.64/26", "10.0.0.64/26"},
				 *const held[] = {"10.0.1.1/32", "10.0.1.0/31"};
	struct env e;
	struct bip_block_info *bl = NULL;
	size_t nb = 0;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/23", 26, NULL) == BIP_OK);
	/* Two addresses held in 10.0.1.0/26 (the first block the walk... any block will do:
	 * take the specific ones so that the reservation below covers them). */
	for (int i = 0; i < 2; i++) {
		struct bip_addr a = t_addr(i ? "10.0.1.1" : "10.0.1.0");
		struct bip_alloc_req req = {
		    .handle = i ? "h1" : "h0", .node = "n1", .ips = &a, .nips = 1};
		struct bip_alloc_result r = {0};

		T_REQUIRE(bip_ipam_allocate(e.ip, &req, &r) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
		bip_alloc_result_free(&r);
	}
	check_usage(&e, "no reservation", (struct usage_want[]){{"p", 512, 2, 0, 510}}, 1);
	/* A /25, a /32 inside it, a /26 inside it, given twice: 128 reserved addresses. */
	T_REQUIRE(reserve(&e, "r25", r25, 1) == BIP_OK);
	T_REQUIRE(reserve(&e, "r32", r32, 1) == BIP_OK);
	T_REQUIRE(reserve(&e, "r26", r26, 2) == BIP_OK, "%s", bip_ipam_errmsg(e.ip));
	check_usage(&e, "overlapping reservations", (struct usage_want[]){{"p", 512, 2, 128, 382}},
		    1);
	/* Reserving the two held addresses (a /32 inside a /31) moves nothing: they stay used. */
	T_REQUIRE(reserve(&e, "held", held, 2) == BIP_OK);
	check_usage(&e, "reserved after allocation", (struct usage_want[]){{"p", 512, 2, 128, 382}},
		    1);
	/* The block view counts each address once too. */
	T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &nb) == BIP_OK);
	T_REQUIRE(nb == 1);
	T_CHECK_INT(bl[0].used, 2);
	T_CHECK_INT(bl[0].reserved, 0);
	T_CHECK_INT(bl[0].reserved_held, 2);
	T_CHECK_INT(bl[0].free, 62);
	bip_block_infos_free(bl, nb);
	/* Released, a reserved address becomes reserved, not free. */
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h1") == BIP_OK);
	check_usage(&e, "released", (struct usage_want[]){{"p", 512, 1, 129, 382}}, 1);
	/* A reservation covering the whole pool: nothing is free. */
	static const char *const all[] = {"10.0.0.0/16"};
	T_REQUIRE(reserve(&e, "all", all, 1) == BIP_OK);
	check_usage(&e, "pool reserved whole", (struct usage_want[]){{"p", 512, 1, 511, 0}}, 1);
	check_clean(&e);
	env_close(&e);
}

/* --- raw record edits: a clock that has moved ------------------------------------------------- */

/* Move the times a record carries (a block's emptySince and release times, an affinity's
 * emptySince) by delta seconds, as if that much time had passed (delta < 0) or the writer's
 * clock had been ahead (delta > 0). */
static int shift_times(struct env *e, const char *key, long delta)
{
	struct bip_kv kv = {0};
	json_t *j, *cool, *x;
	char *text;
	size_t i;
	int rc;

	if (bip_store_get(e->st, key, &kv) != BIP_OK)
		return -1;
	j = json_loadb((const char *)kv.value, kv.len, 0, NULL);
	bip_kv_clear(&kv);
	if (!j)
		return -1;
	if ((x = json_object_get(j, "emptySince")) && json_integer_value(x))
		json_object_set_new(j, "emptySince", json_integer(json_integer_value(x) + delta));
	cool = json_object_get(j, "cool");
	json_array_foreach(cool, i, x)
	{
		json_t *t = json_array_get(x, 1);

		json_array_set_new(x, 1, json_integer(json_integer_value(t) + delta));
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	rc = text ? t_put(e->st, key, text) : -1;
	free(text);
	return rc;
}

static bool exists(struct env *e, const char *key)
{
	struct bip_kv kv = {0};
	int rc = bip_store_get(e->st, key, &kv);

	bip_kv_clear(&kv);
	return rc == BIP_OK;
}

static int set_config(struct env *e, bool strict, unsigned empty_s, unsigned cool_s)
{
	struct bip_config c;

	bip_config_default(&c);
	c.strict_affinity = strict;
	c.empty_block_release_s = empty_s;
	c.ip_cooldown_s = cool_s;
	return bip_ipam_config_set(e->ip, &c);
}

static int alloc_ip(struct env *e, const char *handle, const char *node, const char *addr)
{
	struct bip_addr a = t_addr(addr);
	struct bip_alloc_req req = {.handle = handle, .node = node, .ips = &a, .nips = 1};
	struct bip_alloc_result r = {0};
	int rc = bip_ipam_allocate(e->ip, &req, &r);

	bip_alloc_result_free(&r);
	return rc;
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

static int pool_prio(struct env *e, const char *name, const char *cidr, unsigned block,
		     const char *sel, int prio)
{
	struct bip_pool p = {0};

	p.name = (char *)name;
	p.cidr = t_prefix(cidr);
	p.block_len = block;
	p.node_selector = (char *)sel;
	p.priority = prio;
	return bip_ipam_pool_put(e->ip, &p, false);
}

/* --- 3. a pool whose nodeSelector stops selecting a node ---------------------------------- */

static void test_node_selector_stops_selecting(void)
{
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(pool_prio(&e, "zone-a", "10.3.0.0/24", 26, "zone == 'a'", 10) == BIP_OK);
	T_REQUIRE(pool_prio(&e, "general", "10.4.0.0/24", 26, NULL, 0) == BIP_OK);
	T_REQUIRE(put_node(&e, "n1", "zone", "a") == BIP_OK);
	T_CHECK(strncmp(alloc1(&e, "h0", "n1"), "10.3.0.", 7) == 0, "h0 from zone-a");
	T_CHECK(strncmp(alloc1(&e, "h1", "n1"), "10.3.0.", 7) == 0, "h1 from zone-a");
	/* n1 leaves zone a: its zone-a block has room, but n1 no longer allocates from it */
	T_REQUIRE(put_node(&e, "n1", "zone", "b") == BIP_OK);
	T_CHECK(strncmp(alloc1(&e, "h2", "n1"), "10.4.0.", 7) == 0, "h2 from general");
	T_CHECK(strncmp(alloc1(&e, "h3", "n1"), "10.4.0.", 7) == 0, "h3 from general");
	/* the block stays while it holds an address, and goes with its last one */
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h0") == BIP_OK);
	T_CHECK(exists(&e, "blocks/10.3.0.0-26") || exists(&e, "blocks/10.3.0.64-26") ||
		    exists(&e, "blocks/10.3.0.128-26") || exists(&e, "blocks/10.3.0.192-26"),
		"the zone-a block went while it held h1");
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h1") == BIP_OK);
	{
		struct bip_block_info *bl = NULL;
		size_t nb = 0;

		T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &nb) == BIP_OK);
		for (size_t i = 0; i < nb; i++)
			T_CHECK(!bl[i].pool || strcmp(bl[i].pool, "zone-a") != 0,
				"zone-a block %s kept after its last address",
				fmt(bl[i].cidr.addr));
		bip_block_infos_free(bl, nb);
	}
	check_clean(&e);
	/* The same by address, and the ADD path: back in zone a, a new zone-a block (n1's general
	 * block has room, and a node's own blocks go first, as in Calico: so by address); one
	 * address released by address, the other by handle, then n1 leaves zone a again: the next
	 * ADD gives the empty block back. */
	T_REQUIRE(put_node(&e, "n1", "zone", "a") == BIP_OK);
	T_REQUIRE(alloc_ip(&e, "h4", "n1", "10.3.0.70") == BIP_OK);
	T_REQUIRE(alloc_ip(&e, "h5", "n1", "10.3.0.71") == BIP_OK);
	{
		struct bip_handle_info h = {0};

		T_REQUIRE(bip_ipam_handle_get(e.ip, "h4", &h) == BIP_OK);
		T_CHECK_INT(bip_ipam_release_addr(e.ip, h.addrs[0].addr, "h4"), BIP_OK);
		bip_handle_info_clear(&h);
	}
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h5") == BIP_OK); /* still selected: kept */
	{
		struct bip_block_info *bl = NULL;
		size_t nb = 0, kept = 0;

		T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &nb) == BIP_OK);
		for (size_t i = 0; i < nb; i++)
			kept += bl[i].pool && strcmp(bl[i].pool, "zone-a") == 0;
		T_CHECK_INT(kept, 1);
		bip_block_infos_free(bl, nb);
		T_REQUIRE(put_node(&e, "n1", "zone", "b") == BIP_OK);
		T_CHECK(strncmp(alloc1(&e, "h6", "n1"), "10.4.0.", 7) == 0, "h6 from general");
		T_REQUIRE(bip_ipam_block_list(e.ip, &bl, &nb) == BIP_OK);
		kept = 0;
		for (size_t i = 0; i < nb; i++)
			kept += bl[i].pool && strcmp(bl[i].pool, "zone-a") == 0;
		T_CHECK(kept == 0, "the empty zone-a block was not given back on ADD");
		bip_block_infos_free(bl, nb);
	}
	check_clean(&e);
	env_close(&e);
}

/* --- 4. emptyBlockReleaseSeconds ----------------------------------------------------------- */

static void test_empty_block_release_on_add(void)
{
	char bkey[64] = "", akey[96];
	struct env e;
	struct bip_config c;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(bip_ipam_config_get(e.ip, &c) == BIP_OK);
	T_CHECK_INT(c.empty_block_release_s, 900); /* the default, as Calico's leakGracePeriod */
	T_REQUIRE(pool_prio(&e, "first", "10.5.0.0/24", 26, NULL, 10) == BIP_OK);
	T_REQUIRE(pool_prio(&e, "second", "10.6.0.0/24", 26, NULL, 0) == BIP_OK);
	T_CHECK(strncmp(alloc1(&e, "h0", "n1"), "10.5.0.", 7) == 0);
	/* n1 also owns 10.6.0.0/26 (a specific address), which then goes empty */
	T_REQUIRE(alloc_ip(&e, "hb", "n1", "10.6.0.5") == BIP_OK);
	T_REQUIRE(bip_ipam_release_handle(e.ip, "hb") == BIP_OK);
	snprintf(bkey, sizeof(bkey), "blocks/10.6.0.0-26");
	snprintf(akey, sizeof(akey), "affinity/n1/10.6.0.0-26");
	T_REQUIRE(exists(&e, bkey) && exists(&e, akey));
	/* just empty: kept */
	T_CHECK(strncmp(alloc1(&e, "h1", "n1"), "10.5.0.", 7) == 0);
	T_CHECK(exists(&e, bkey) && exists(&e, akey), "released before its time");
	/* its emptiness as the affinity says is old, but the block holds an address again (its
	 * affinity record is stale, as after a clock jump): kept */
	T_REQUIRE(alloc_ip(&e, "hc", "n1", "10.6.0.6") == BIP_OK);
	T_REQUIRE(t_put(e.st, akey, "{\"state\":\"confirmed\",\"free\":64,\"emptySince\":1000}") ==
		  0);
	T_CHECK(strncmp(alloc1(&e, "h2", "n1"), "10.5.0.", 7) == 0);
	T_CHECK(exists(&e, bkey), "a block holding an address was released");
	T_REQUIRE(bip_ipam_release_handle(e.ip, "hc") == BIP_OK);
	/* emptied by a clock ahead by an hour: late, never early */
	T_REQUIRE(shift_times(&e, bkey, 3600) == 0 && shift_times(&e, akey, 3600) == 0);
	T_CHECK(strncmp(alloc1(&e, "h3", "n1"), "10.5.0.", 7) == 0);
	T_CHECK(exists(&e, bkey), "released although emptied 'in the future'");
	/* empty for 901 s: the next ADD on n1 gives it back (block and affinity) */
	T_REQUIRE(shift_times(&e, bkey, -3600 - 901) == 0 &&
		  shift_times(&e, akey, -3600 - 901) == 0);
	T_CHECK(strncmp(alloc1(&e, "h4", "n1"), "10.5.0.", 7) == 0);
	T_CHECK(!exists(&e, bkey) && !exists(&e, akey), "the long-empty block is still there");
	check_clean(&e);
	/* 0 = never */
	T_REQUIRE(set_config(&e, false, 0, 0) == BIP_OK);
	T_REQUIRE(alloc_ip(&e, "hd", "n1", "10.6.0.7") == BIP_OK);
	T_REQUIRE(bip_ipam_release_handle(e.ip, "hd") == BIP_OK);
	T_REQUIRE(shift_times(&e, bkey, -100000) == 0 && shift_times(&e, akey, -100000) == 0);
	T_CHECK(strncmp(alloc1(&e, "h5", "n1"), "10.5.0.", 7) == 0);
	T_CHECK(exists(&e, bkey), "released with emptyBlockReleaseSeconds 0");
	check_clean(&e);
	env_close(&e);
}

static void test_empty_block_reclaimed_under_strict_affinity(void)
{
	static const char *bkey = "blocks/10.7.0.0-28", *a1 = "affinity/n1/10.7.0.0-28",
			  *a2 = "affinity/n2/10.7.0.0-28";
	struct env e;
	struct bip_alloc_result r;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "tiny", "10.7.0.0/28", 28, NULL) == BIP_OK); /* one block */
	T_REQUIRE(set_config(&e, true, 900, 0) == BIP_OK);
	T_CHECK_STR(alloc1(&e, "h0", "n1"), "10.7.0.0");
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h0") == BIP_OK);
	/* n2 finds no unclaimed block, and n1's has been empty for less than 60 s */
	T_CHECK_INT(alloc(&e, "h1", "n2", 1, &r), BIP_EEXHAUSTED);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "strictAffinity"), "%s", bip_ipam_errmsg(e.ip));
	/* a clock ahead on n1 cannot make it early */
	T_REQUIRE(shift_times(&e, bkey, 3600) == 0);
	T_CHECK_INT(alloc(&e, "h1", "n2", 1, &r), BIP_EEXHAUSTED);
	/* 61 s later n2 takes it over in its allocation: n1's affinity goes, n2's comes */
	T_REQUIRE(shift_times(&e, bkey, -3600 - 61) == 0);
	T_CHECK_STR(alloc1(&e, "h1", "n2"), "10.7.0.1"); /* 10.7.0.0 was freed last */
	T_CHECK(!exists(&e, a1) && exists(&e, a2), "affinities not moved");
	{
		struct bip_addr_info ai;

		T_REQUIRE(bip_ipam_addr_info(e.ip, t_addr("10.7.0.1"), &ai) == BIP_OK);
		T_CHECK_STR(ai.block_node, "n2");
		T_CHECK(!ai.borrowed, "the address counts as borrowed");
		bip_addr_info_clear(&ai);
	}
	check_clean(&e);
	/* a block that holds an address is never taken over, however old its emptySince */
	T_REQUIRE(t_put(e.st, bkey,
			"{\"cidr\":\"10.7.0.0/28\",\"node\":\"n2\",\"claimed\":1,\"emptySince\":1,"
			"\"alloc\":[[1,\"h1\"]]}") == 0);
	T_CHECK_INT(alloc(&e, "h2", "n3", 1, &r), BIP_EEXHAUSTED);
	/* emptyBlockReleaseSeconds 0: never taken over */
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h1") == BIP_OK);
	T_REQUIRE(set_config(&e, true, 0, 0) == BIP_OK);
	T_REQUIRE(shift_times(&e, bkey, -100000) == 0);
	T_CHECK_INT(alloc(&e, "h2", "n3", 1, &r), BIP_EEXHAUSTED);
	/* and bip_ipam_release_empty_blocks (gc, ipam release --empty-blocks) frees it for all */
	{
		size_t del = 0;

		T_REQUIRE(bip_ipam_release_empty_blocks(e.ip, 900, &del) == BIP_OK);
		T_CHECK_INT(del, 1);
		T_CHECK(!exists(&e, bkey) && !exists(&e, a2), "not released");
	}
	T_CHECK_STR(alloc1(&e, "h2", "n3"), "10.7.0.0");
	check_clean(&e);
	env_close(&e);
}

/* --- 6. ipCooldownSeconds ------------------------------------------------------------------ */

static void test_ip_cooldown(void)
{
	static const char *bkey = "blocks/10.8.0.0-30";
	struct env e;
	struct bip_alloc_result r;
	struct bip_config c;
	char *before, *after;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.8.0.0/30", 30, NULL) == BIP_OK); /* 4 addresses */
	T_REQUIRE(set_config(&e, false, 900, 1201) == BIP_EINVAL);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "ipCooldownSeconds 1201 out of range 0-1200"), "%s",
		bip_ipam_errmsg(e.ip));
	/* 0 (the default): the only free address is handed out at once */
	T_REQUIRE(alloc(&e, "all", "n1", 3, &r) == BIP_OK);
	bip_alloc_result_free(&r);
	T_CHECK_STR(alloc1(&e, "h3", "n1"), "10.8.0.3");
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h3") == BIP_OK);
	T_CHECK_STR(alloc1(&e, "h4", "n1"), "10.8.0.3");
	/* 60 s: released, it is not handed out, automatically or by name, for 60 s */
	T_REQUIRE(set_config(&e, false, 900, 60) == BIP_OK);
	T_REQUIRE(bip_ipam_config_get(e.ip, &c) == BIP_OK);
	T_CHECK_INT(c.ip_cooldown_s, 60);
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h4") == BIP_OK);
	before = t_dump(e.st);
	T_CHECK_INT(alloc(&e, "h5", "n1", 1, &r), BIP_EEXHAUSTED);
	T_CHECK_INT(alloc_ip(&e, "h5", "n1", "10.8.0.3"), BIP_ETAKEN);
	T_CHECK(strstr(bip_ipam_errmsg(e.ip), "cools down for ipCooldownSeconds (60 s)"), "%s",
		bip_ipam_errmsg(e.ip));
	after = t_dump(e.st);
	T_CHECK(strcmp(before, after) == 0, "a refused request changed the store");
	free(before);
	free(after);
	/* a clock that went back does not shorten it */
	T_REQUIRE(shift_times(&e, bkey, 600) == 0);
	T_CHECK_INT(alloc(&e, "h5", "n1", 1, &r), BIP_EEXHAUSTED);
	/* 61 s after the release it is free again */
	T_REQUIRE(shift_times(&e, bkey, -600 - 61) == 0);
	T_CHECK_STR(alloc1(&e, "h5", "n1"), "10.8.0.3");
	/* the release time is kept for BIP_COOLDOWN_MAX s, then dropped from the record */
	T_REQUIRE(bip_ipam_release_handle(e.ip, "h5") == BIP_OK);
	{
		struct bip_kv kv = {0};

		T_REQUIRE(bip_store_get(e.st, bkey, &kv) == BIP_OK);
		T_CHECK(strstr((const char *)kv.value, "\"cool\":[[3,"), "%s", kv.value);
		bip_kv_clear(&kv);
		T_REQUIRE(shift_times(&e, bkey, -BIP_COOLDOWN_MAX) == 0);
		T_REQUIRE(alloc_ip(&e, "h6", "n1", "10.8.0.3") == BIP_OK); /* rewrites the block */
		T_REQUIRE(bip_ipam_release_addr(e.ip, t_addr("10.8.0.0"), "all") == BIP_OK);
		T_REQUIRE(bip_store_get(e.st, bkey, &kv) == BIP_OK);
		{
			json_t *j = json_loadb((const char *)kv.value, kv.len, 0, NULL);
			json_t *cool = json_object_get(j, "cool");

			T_CHECK(json_array_size(cool) == 1 && json_integer_value(json_array_get(
								  json_array_get(cool, 0), 0)) == 0,
				"%s", kv.value);
			json_decref(j);
		}
		bip_kv_clear(&kv);
	}
	check_clean(&e);
	env_close(&e);
}

/* --- 5. repairs conditioned on a report (the library side of --from-report) ----------------- */

struct seen {
	const struct bip_check_report *r;
	bool any; /* accept everything, whatever the revision */
};

static bool want_seen(void *ctx, const struct bip_problem *p)
{
	const struct seen *s = ctx;

	for (size_t i = 0; s->r && i < s->r->n; i++)
		if (s->r->v[i].kind == p->kind && strcmp(s->r->v[i].key, p->key) == 0 &&
		    strcmp(s->r->v[i].subject, p->subject) == 0 && s->r->v[i].rev == p->rev)
			return true;
	return s->any;
}

static bool never(void *ctx, const struct bip_problem *p)
{
	(void)ctx;
	(void)p;
	return false;
}

static void test_repair_only_what_a_report_saw(void)
{
	static const struct {
		const char *kind, *subject;
		bool fixable, repaired; /* in the conditioned repair */
	} rows[] = {
	    {"handle-names-free-address", "10.0.0.50", true, true},  /* as reported */
	    {"handle-names-free-address", "10.0.0.51", true, false}, /* changed since */
	    {"affinity-without-block", "10.0.1.0/26", true, true},
	    {"block-outside-pools", "10.9.0.0/26", true, true},	  /* empty */
	    {"block-outside-pools", "10.9.1.0/26", false, false}, /* holds an address */
	    {"corrupt-record", "net.bad.eth0", false, false},
	};
	struct bip_check_report rep = {0}, again = {0}, after = {0};
	struct seen s = {&rep, false};
	struct env e;
	char *before, *now;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p", "10.0.0.0/16", 26, NULL) == BIP_OK);
	/* the records below are written raw, as a release before the block index wrote them */
	T_REQUIRE(t_del(e.st, "format") == BIP_OK);
	T_REQUIRE(t_put(e.st, "handles/ghost", "{\"ips\":[\"10.0.0.50/26\"],\"time\":1}") == 0);
	T_REQUIRE(t_put(e.st, "handles/later", "{\"ips\":[\"10.0.0.51/26\"],\"time\":1}") == 0);
	T_REQUIRE(t_put(e.st, "affinity/n2/10.0.1.0-26", "{\"state\":\"confirmed\"}") == 0);
	T_REQUIRE(t_put(e.st, "blocks/10.9.0.0-26",
			"{\"cidr\":\"10.9.0.0/26\",\"claimed\":1,\"alloc\":[]}") == 0);
	T_REQUIRE(t_put(e.st, "blocks/10.9.1.0-26",
			"{\"cidr\":\"10.9.1.0/26\",\"claimed\":1,\"alloc\":[[1,\"x\"]]}") == 0);
	T_REQUIRE(t_put(e.st, "handles/x", "{\"ips\":[\"10.9.1.1/26\"],\"time\":1}") == 0);
	T_REQUIRE(t_put(e.st, "handles/net.bad.eth0", "nope") == 0);
	T_REQUIRE(bip_ipam_check(e.ip, false, &rep) == BIP_OK);
	T_REQUIRE(rep.n == sizeof(rows) / sizeof(rows[0]), "%zu problems", rep.n);
	for (size_t i = 0; i < rep.n; i++)
		T_CHECK(rep.v[i].rev > 0, "%s has no revision", rep.v[i].key);
	/* a filter that accepts nothing repairs nothing */
	before = t_dump(e.st);
	T_REQUIRE(bip_ipam_check_repair_if(e.ip, never, NULL, &again) == BIP_OK);
	now = t_dump(e.st);
	T_CHECK(strcmp(before, now) == 0, "a repair nobody wanted changed the store");
	free(before);
	free(now);
	bip_check_report_free(&again);
	/* one record changes after the report: only it is left alone */
	T_REQUIRE(t_put(e.st, "handles/later", "{\"ips\":[\"10.0.0.51/26\"],\"time\":2}") == 0);
	T_REQUIRE(bip_ipam_check_repair_if(e.ip, want_seen, &s, &after) == BIP_OK);
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		bool found = false;

		for (size_t i = 0; i < after.n; i++) {
			if (strcmp(bip_problem_name(after.v[i].kind), rows[k].kind) != 0 ||
			    strcmp(after.v[i].subject, rows[k].subject) != 0)
				continue;
			found = true;
			T_CHECK(after.v[i].fixable == rows[k].fixable, "row %zu: fixable %d", k,
				after.v[i].fixable);
			T_CHECK(after.v[i].repaired == rows[k].repaired,
				"row %zu (%s %s): repaired %d", k, rows[k].kind, rows[k].subject,
				after.v[i].repaired);
		}
		T_CHECK(found, "row %zu: not found", k);
	}
	T_CHECK(!exists(&e, "handles/ghost") && exists(&e, "handles/later"), "handles");
	T_CHECK(!exists(&e, "affinity/n2/10.0.1.0-26"), "stray affinity kept");
	T_CHECK(!exists(&e, "blocks/10.9.0.0-26") && exists(&e, "blocks/10.9.1.0-26"), "blocks");
	bip_check_report_free(&after);
	bip_check_report_free(&rep);
	env_close(&e);
}

T_MAIN(T(test_specific_address_allowed_uses), T(test_usage_counts_each_address_once),
       T(test_node_selector_stops_selecting), T(test_empty_block_release_on_add),
       T(test_empty_block_reclaimed_under_strict_affinity), T(test_ip_cooldown),
       T(test_repair_only_what_a_report_saw))
