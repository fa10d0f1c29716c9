/* Routes from the store: block routes, host routes for borrowed addresses, blackholes. */
#include <stdlib.h>
#include <string.h>

#include "blockipam/ipam.h"
#include "t.h"
#include "util.h"

static int alloc1(struct bip_ipam *ip, const char *h, const char *node, unsigned n4,
		  unsigned n6, struct bip_addr *got)
{
	struct bip_alloc_req req = {.handle = h, .node = node, .num4 = n4, .num6 = n6};
	struct bip_alloc_result r;
	int rc = bip_ipam_allocate(ip, &req, &r);

	if (rc == BIP_OK && got)
		*got = r.v[0].addr;
	if (rc == BIP_OK)
		bip_alloc_result_free(&r);
	return rc;
}

static int put_node(struct bip_ipam *ip, const char *name, const char *a4, const char *a6)
{
	struct bip_addr addrs[2] = {t_addr(a4), t_addr(a6)};
	struct bip_node n = {0};

	n.name = (char *)name;
	n.addrs = addrs;
	n.naddrs = 2;
	return bip_ipam_node_put(ip, &n);
}

/* "kind dst node via" lines of a route set. */
static char *render(const struct bip_routes *r)
{
	static const char *const kinds[] = {"block", "host", "blackhole"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (size_t i = 0; i < r->n; i++) {
		char d[BIP_PREFIX_STRLEN], v[BIP_ADDR_STRLEN] = "-";

		if (r->v[i].via.family)
			bip_addr_fmt(r->v[i].via, v);
		fprintf(f, "%s %s %s %s\n", kinds[r->v[i].kind], bip_prefix_fmt(r->v[i].dst, d),
			r->v[i].node, v);
	}
	fclose(f);
	return buf;
}

static void test_routes(void)
{
	char *dir = t_tmpdir();
	struct bip_store *st = t_store(dir, NULL, 0);
	struct bip_ipam *ip = NULL;
	struct bip_routes r = {0};
	struct bip_addr borrowed;
	char *text;
	char h[16];

	T_REQUIRE(st && bip_ipam_new(st, &ip) == BIP_OK);
	T_REQUIRE(t_pool(ip, "p4", "10.0.0.0/29", 30, NULL) == BIP_OK); /* two blocks of 4 */
	T_REQUIRE(t_pool(ip, "p6", "fd00::/126", 126, NULL) == BIP_OK); /* one block of 4 */
	T_REQUIRE(put_node(ip, "a", "192.168.0.1", "2001:db8::1") == BIP_OK);
	T_REQUIRE(put_node(ip, "b", "192.168.0.2", "2001:db8::2") == BIP_OK);
	for (int i = 0; i < 4; i++) {
		snprintf(h, sizeof(h), "a%d", i);
		T_REQUIRE(alloc1(ip, h, "a", 1, i == 0, NULL) == BIP_OK, "%s", bip_ipam_errmsg(ip));
	}
	T_REQUIRE(alloc1(ip, "b0", "b", 1, 0, NULL) == BIP_OK);
	T_REQUIRE(bip_ipam_release_handle(ip, "a3") == BIP_OK);
	/* b borrows a's free address once its own block is full */
	for (int i = 1; i < 4; i++) {
		snprintf(h, sizeof(h), "b%d", i);
		T_REQUIRE(alloc1(ip, h, "b", 1, 0, NULL) == BIP_OK);
	}
	T_REQUIRE(alloc1(ip, "b4", "b", 1, 1, &borrowed) == BIP_OK, "%s", bip_ipam_errmsg(ip));

	T_REQUIRE(bip_ipam_routes(ip, NULL, &r) == BIP_OK);
	text = render(&r);
	/* (which block each node claims follows from its name: a gets .0/30, b .4/30) */
	T_CHECK_STR(text, "block 10.0.0.0/30 a 192.168.0.1\n"
			  "block fd00::/126 a 2001:db8::1\n"
			  "block 10.0.0.4/30 b 192.168.0.2\n"
			  "host 10.0.0.3/32 b 192.168.0.2\n"
			  "host fd00::1/128 b 2001:db8::2\n");
	T_CHECK_INT(r.pods, 10);
	free(text);
	bip_routes_free(&r);

	/* as node a sees it: its own blocks blackholed, b's block and b's borrowed addresses */
	T_REQUIRE(bip_ipam_routes(ip, "a", &r) == BIP_OK);
	text = render(&r);
	T_CHECK_STR(text, "blackhole 10.0.0.0/30 a 192.168.0.1\n"
			  "blackhole fd00::/126 a 2001:db8::1\n"
			  "block 10.0.0.4/30 b 192.168.0.2\n"
			  "host 10.0.0.3/32 b 192.168.0.2\n"
			  "host fd00::1/128 b 2001:db8::2\n");
	free(text);
	bip_routes_free(&r);

	/* releasing the borrowed addresses drops their host routes; empty blocks stay routed */
	T_REQUIRE(bip_ipam_release_handle(ip, "b4") == BIP_OK);
	for (int i = 0; i < 3; i++) {
		snprintf(h, sizeof(h), "a%d", i);
		T_REQUIRE(bip_ipam_release_handle(ip, h) == BIP_OK);
	}
	T_REQUIRE(bip_ipam_routes(ip, "a", &r) == BIP_OK);
	text = render(&r);
	T_CHECK_STR(text, "blackhole 10.0.0.0/30 a 192.168.0.1\n"
			  "blackhole fd00::/126 a 2001:db8::1\n"
			  "block 10.0.0.4/30 b 192.168.0.2\n");
	free(text);
	bip_routes_free(&r);

	/* node b leaves: its block becomes unowned and each address gets a host route */
	T_REQUIRE(bip_ipam_node_release(ip, "b", NULL, NULL) == BIP_OK);
	T_REQUIRE(bip_ipam_routes(ip, NULL, &r) == BIP_OK);
	text = render(&r);
	T_CHECK(strstr(text, "host 10.0.0.4/32 b") && !strstr(text, "block 10.0.0.4/30"), "%s",
		text);
	free(text);
	bip_routes_free(&r);
	T_CHECK_INT(bip_ipam_routes(ip, "bad/node", &r), BIP_EINVAL);
	bip_ipam_free(ip);
	bip_store_close(st);
	t_rmdir(dir);
}

T_MAIN(T(test_routes))
