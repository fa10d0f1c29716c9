/*
 * The CNI plugin end to end, against a real SQLite store file in a temporary directory: ADD,
 * DEL, CHECK, GC and STATUS in process for every spec version they exist in, failures that
 * leave the store byte-for-byte unchanged, and 200 concurrent ADDs from separate processes
 * (fork + exec of the built plugin binary) that must all get distinct addresses.
 *
 * Needs the engine (lib/ipam.c) and the sqlite backend: until they are merged this file fails
 * to link, which is why it is separate from test_cni.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cni/cni.h"
#include "t.h"
#include "util_cni.h"

static const char *const versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

struct fix {
	char dir[64];
	char store[128]; /* sqlite:///tmp/.../ipam.db */
};

static void fix_rm(struct fix *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  cannot remove %s\n", f->dir);
}

static int with_ipam(struct fix *f, int (*fn)(struct bip_ipam *ipam, void *ctx), void *ctx)
{
	struct bip_store *s = NULL;
	struct bip_ipam *ipam = NULL;
	char err[256] = "";
	int rc = bip_store_open(f->store, NULL, &s, err, sizeof(err));

	if (rc != BIP_OK) {
		fprintf(stderr, "  store %s: %s\n", f->store, err);
		return rc;
	}
	rc = bip_ipam_new(s, &ipam);
	if (rc == BIP_OK)
		rc = fn(ipam, ctx);
	bip_ipam_free(ipam);
	bip_store_close(s);
	return rc;
}

struct pool_args {
	const char *name, *cidr;
	unsigned block_len;
};

static int put_pool(struct bip_ipam *ipam, void *ctx)
{
	const struct pool_args *a = ctx;
	struct bip_pool p = {.name = (char *)a->name, .block_len = a->block_len};
	int rc = bip_prefix_parse_net(a->cidr, &p.cidr);

	if (rc == BIP_OK)
		rc = bip_ipam_pool_put(ipam, &p, true);
	if (rc != BIP_OK)
		fprintf(stderr, "  pool %s: %s %s\n", a->name, bip_errname(rc), bip_ipam_errmsg(ipam));
	return rc;
}

/* A fresh store with the given pools ("name=cidr/blocklen", ...; NULL-terminated). */
static int fix_new(struct fix *f, const char *const *pools)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/bip-e2e-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->store, sizeof(f->store), "sqlite://%s/ipam.db", f->dir);
	for (; pools && *pools; pools++) {
		char name[64], cidr[64];
		unsigned bl = 0;
		struct pool_args a = {name, cidr, 0};

		if (sscanf(*pools, "%63[^=]=%63[^,],%u", name, cidr, &bl) < 2)
			return -1;
		a.block_len = bl;
		if (with_ipam(f, put_pool, &a) != BIP_OK)
			return -1;
	}
	return 0;
}

static int dump_one(void *ctx, const struct bip_kv *kv)
{
	fprintf(ctx, "%s rev=%lld %s\n", kv->key, (long long)kv->rev, (const char *)kv->value);
	return 0;
}

/* Every key, revision and value of the store, as one string. */
static char *fix_dump(struct fix *f)
{
	struct bip_store *s = NULL;
	char *buf = NULL, err[256];
	size_t n = 0;
	FILE *m;

	if (bip_store_open(f->store, NULL, &s, err, sizeof(err)) != BIP_OK)
		return strdup("(store cannot be opened)");
	m = open_memstream(&buf, &n);
	if (bip_store_list_cb(s, "", 0, dump_one, m, NULL) != BIP_OK)
		fputs("(list failed)", m);
	fclose(m);
	bip_store_close(s);
	return buf;
}

static int get_handle(struct bip_ipam *ipam, void *ctx)
{
	struct bip_handle_info h = {0};
	int rc = bip_ipam_handle_get(ipam, ctx, &h);

	bip_handle_info_clear(&h);
	return rc;
}

/* Whether the engine has a record for handle id. */
static bool has_handle(struct fix *f, const char *id)
{
	return with_ipam(f, get_handle, (void *)id) == BIP_OK;
}

static int count_one(void *ctx, const struct bip_handle_info *h)
{
	(void)h;
	(*(size_t *)ctx)++;
	return 0;
}

static int count_all(struct bip_ipam *ipam, void *ctx)
{
	return bip_ipam_handle_foreach(ipam, "", count_one, ctx);
}

/* How many handles the store holds (-1 on error). */
static long nhandles(struct fix *f)
{
	size_t n = 0;

	return with_ipam(f, count_all, &n) == BIP_OK ? (long)n : -1;
}

/* conf with every "%s" replaced by store. */
static void subst(char *buf, size_t n, const char *conf, const char *store)
{
	size_t off = 0;

	for (const char *p = conf; *p && off + 1 < n; p++) {
		if (p[0] == '%' && p[1] == 's') {
			off += (size_t)snprintf(buf + off, n - off, "%s", store);
			p++;
		} else {
			buf[off++] = *p;
		}
	}
	buf[off < n ? off : n - 1] = '\0';
}

/* Run one command. conf is a table string (' for "), with %s for the store address. */
static int cni(struct fix *f, const char *cmd, const char *cid, const char *ifname,
	       const char *conf, char **out)
{
	char c[32], id[300], ifn[64], *json, buf[8192];
	const char *env[] = {c,  id, "CNI_NETNS=/var/run/netns/t", ifn, "CNI_PATH=/opt/cni/bin",
			     "BLOCKIPAM_NODE=node-a", NULL};
	int rc;

	snprintf(c, sizeof(c), "CNI_COMMAND=%s", cmd);
	snprintf(id, sizeof(id), "CNI_CONTAINERID=%s", cid ? cid : "");
	snprintf(ifn, sizeof(ifn), "CNI_IFNAME=%s", ifname ? ifname : "eth0");
	subst(buf, sizeof(buf), conf, f->store);
	json = tu_dq(buf);
	rc = tu_run(env, json, out);
	free(json);
	return rc;
}

static json_t *js(const char *out)
{
	return json_loads(out ? out : "", 0, NULL);
}

static const char *ip0(json_t *res)
{
	return json_string_value(
		json_object_get(json_array_get(json_object_get(res, "ips"), 0), "address"));
}

static void conf_for(char *buf, size_t n, const char *version, const char *ipam_extra,
		     const char *top_extra)
{
	snprintf(buf, n,
		 "{'cniVersion':'%s','name':'net1','ipam':{'type':'blockipam',"
		 "'store':'%%s'%s}%s}",
		 version, ipam_extra, top_extra);
}

/* --- ADD / DEL ---------------------------------------------------------------------------------- */

static void test_add_del_every_version(void)
{
	static const char *const pools[] = {"p4=10.44.0.0/16,26", NULL};
	struct fix f;

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	for (size_t v = 0; v < NVERSIONS; v++) {
		char conf[512], cid[32], *out = NULL, *again = NULL;
		json_t *res, *ip;
		struct bip_prefix p, pool;

		conf_for(conf, sizeof(conf), versions[v], ",'routes':[{'dst':'0.0.0.0/0'}]", "");
		snprintf(cid, sizeof(cid), "ctr-%zu", v);
		T_CHECK_INT(cni(&f, "ADD", cid, "eth0", conf, &out), 0);
		res = js(out);
		T_REQUIRE(res != NULL, "not JSON: %s", out);
		T_CHECK_STR(json_string_value(json_object_get(res, "cniVersion")), versions[v]);
		ip = json_array_get(json_object_get(res, "ips"), 0);
		T_CHECK(json_array_size(json_object_get(res, "ips")) == 1, "%s", out);
		if (v < 3)
			T_CHECK_STR(json_string_value(json_object_get(ip, "version")), "4");
		else
			T_CHECK(json_object_get(ip, "version") == NULL, "1.x has no version: %s", out);
		T_CHECK(json_object_get(ip, "interface") == NULL, "%s", out);
		T_CHECK(bip_prefix_parse(ip0(res), &p) == BIP_OK, "%s", out);
		bip_prefix_parse_net("10.44.0.0/16", &pool);
		T_CHECK(bip_prefix_contains(pool, p.addr) && p.len == 26, "%s", out);
		T_CHECK_STR(json_string_value(json_object_get(
				    json_array_get(json_object_get(res, "routes"), 0), "dst")),
			    "0.0.0.0/0");
		T_CHECK(json_is_object(json_object_get(res, "dns")), "%s", out);
		/* repeated ADD: the same result */
		T_CHECK_INT(cni(&f, "ADD", cid, "eth0", conf, &again), 0);
		T_CHECK_STR(again, out);
		free(again);
		/* same container, another interface: another address */
		T_CHECK_INT(cni(&f, "ADD", cid, "net1", conf, &again), 0);
		T_CHECK(strcmp(again, out) != 0, "%s", again);
		free(again);
		/* DEL frees; a second DEL and a DEL of nothing succeed with empty output */
		T_CHECK_INT(cni(&f, "DEL", cid, "eth0", conf, &again), 0);
		T_CHECK_STR(again, "");
		free(again);
		T_CHECK_INT(cni(&f, "DEL", cid, "eth0", conf, &again), 0);
		T_CHECK_STR(again, "");
		free(again);
		T_CHECK_INT(cni(&f, "DEL", "never-added", "eth0", conf, &again), 0);
		T_CHECK_STR(again, "");
		free(again);
		T_CHECK_INT(cni(&f, "DEL", cid, "net1", conf, &again), 0);
		free(again);
		json_decref(res);
		free(out);
	}
	/* everything released: the store holds no handle */
	T_CHECK_INT(nhandles(&f), 0);
	fix_rm(&f);
}

static void test_add_dual_stack_and_prefix_modes(void)
{
	static const char *const pools[] = {"p4=10.45.0.0/16,26", "p6=fd45::/64,122", NULL};
	static const struct {
		const char *ipam;
		const char *want4_len, *want6_len;
	} rows[] = {
		{",'assign_ipv6':true", "/26", "/122"},
		{",'assign_ipv6':'true','prefix_length':'pool'", "/16", "/64"},
		{",'assign_ipv6':true,'prefix_length':'host'", "/32", "/128"},
		{",'assign_ipv4':'false','assign_ipv6':true", NULL, "/122"},
	};
	struct fix f;

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char conf[512], cid[32], *out = NULL;
		json_t *res, *ips;
		size_t k;
		json_t *ip;
		bool seen4 = false, seen6 = false;

		conf_for(conf, sizeof(conf), "1.0.0", rows[i].ipam, "");
		snprintf(cid, sizeof(cid), "ds-%zu", i);
		T_CHECK_INT(cni(&f, "ADD", cid, "eth0", conf, &out), 0);
		res = js(out);
		ips = json_object_get(res, "ips");
		json_array_foreach(ips, k, ip) {
			const char *a = json_string_value(json_object_get(ip, "address"));
			bool v6 = strchr(a, ':') != NULL;

			if (v6)
				seen6 = true;
			else
				seen4 = true;
			T_CHECK(strstr(a, v6 ? rows[i].want6_len : rows[i].want4_len) != NULL,
				"row %zu: %s", i, out);
		}
		T_CHECK(seen4 == (rows[i].want4_len != NULL) && seen6, "row %zu: %s", i, out);
		json_decref(res);
		free(out);
	}
	fix_rm(&f);
}

/*
 * The main plugin's model (top-level type), with more pods than a block holds on one node:
 * every result's length and gateway are the model's, no pod gets the subnet's network address,
 * its gateway or its (IPv4) broadcast address, and when the model can take no more the refusal
 * is blockipam's own code. A specific address gets the same length as an automatic one, and the
 * addresses the model keeps out are refused on request too.
 */
static void test_add_main_plugin_models(void)
{
	static const struct {
		const char *what, *top, *ipam, *p4, *p6;
		unsigned len4, len6;
		int gw;          /* ordinal of the gateway in the reported subnet; -1 none */
		bool keep;       /* network, gateway, IPv4 broadcast kept out */
		unsigned pods;   /* how many ADDs succeed */
		unsigned code;   /* the next ADD's refusal */
		const char *msg; /* ... and a part of its message or details */
	} rows[] = {
		{"bridge", ",'type':'bridge','isGateway':true", ",'assign_ipv6':true",
		 "p4=10.60.0.0/24,28", "p6=fd60::/120,124", 28, 124, 1, true, 13, 105,
		 "uses 1 IPv4 block as its subnet"},
		{"ptp", ",'type':'ptp'", ",'assign_ipv6':true", "p4=10.61.0.0/26,28",
		 "p6=fd61::/120,124", 26, 120, 1, true, 61, 100, "no free IPv4 address"},
		{"ptp-block", ",'type':'ptp'", ",'assign_ipv6':true,'prefix_length':'block'",
		 "p4=10.63.0.0/26,28", "p6=fd63::/120,124", 28, 124, 1, true, 52, 100,
		 "no free IPv4"},
		{"macvlan", ",'type':'macvlan','master':'eth9'",
		 ",'assign_ipv6':true,'gateway':['10.62.0.9','fd62::9']", "p4=10.62.0.0/26,28",
		 "p6=fd62::/120,124", 26, 120, 9, true, 61, 100, "no free IPv4"},
		{"none", "", ",'assign_ipv6':true", "p4=10.64.0.0/26,28", "p6=fd64::/120,124", 28,
		 124, -1, false, 64, 100, "no free IPv4"},
	};

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const char *pools[] = {rows[r].p4, rows[r].p6, NULL};
		char conf[1024], spec[1024], cid[32], first[2][BIP_PREFIX_STRLEN] = {"", ""};
		char *out = NULL, seen[256] = {0};
		unsigned ok = 0;
		struct fix f;

		T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
		snprintf(conf, sizeof(conf),
			 "{'cniVersion':'1.0.0','name':'net1'%s,'ipam':{'type':'blockipam',"
			 "'store':'%%s'%s,'routes':[{'dst':'0.0.0.0/0'}]}}",
			 rows[r].top, rows[r].ipam);
		for (unsigned i = 0; i < rows[r].pods + 1; i++) {
			json_t *res, *ip;
			size_t k;
			int rc;

			snprintf(cid, sizeof(cid), "m-%u", i);
			rc = cni(&f, "ADD", cid, "eth0", conf, &out);
			if (i == rows[r].pods) {
				T_CHECK(rc == 1 && tu_code(out) == rows[r].code &&
						strstr(out, rows[r].msg),
					"%s: ADD %u: want %u '%s', got %s", rows[r].what, i,
					rows[r].code, rows[r].msg, out);
				free(out);
				break;
			}
			if (rc != 0) {
				T_CHECK(0, "%s: ADD %u: %s", rows[r].what, i, out);
				free(out);
				break;
			}
			res = js(out);
			json_array_foreach(json_object_get(res, "ips"), k, ip) {
				const char *a = json_string_value(json_object_get(ip, "address"));
				const char *g = json_string_value(json_object_get(ip, "gateway"));
				struct bip_prefix p = {0}, sub;
				struct bip_addr gw = {0};
				uint64_t o;

				T_CHECK(a && bip_prefix_parse(a, &p) == BIP_OK, "%s", out);
				sub = (struct bip_prefix){bip_prefix_first(p), p.len};
				o = (uint64_t)bip_prefix_ordinal(sub, p.addr);
				T_CHECK(p.len == (p.addr.family == 4 ? rows[r].len4 : rows[r].len6),
					"%s: %s: want /%u", rows[r].what, a,
					p.addr.family == 4 ? rows[r].len4 : rows[r].len6);
				if (rows[r].gw < 0) {
					T_CHECK(g == NULL, "%s: %s has gateway %s", rows[r].what, a, g);
				} else {
					T_CHECK(g && bip_addr_parse(g, &gw) == BIP_OK &&
							bip_addr_eq(gw, bip_prefix_nth(sub, rows[r].gw)),
						"%s: %s: gateway %s", rows[r].what, a, g ? g : "none");
					T_CHECK(o != 0 && o != (uint64_t)rows[r].gw &&
							(p.addr.family == 6 ||
							 !bip_addr_eq(p.addr, bip_prefix_last(sub))),
						"%s: %s is kept out (network, gateway, broadcast)",
						rows[r].what, a);
				}
				if (p.addr.family == 4) {
					unsigned last = (unsigned)(p.addr.v & 0xff);

					T_CHECK(!seen[last], "%s: %s twice", rows[r].what, a);
					seen[last] = 1;
				}
				if (!first[p.addr.family == 6][0])
					snprintf(first[p.addr.family == 6], BIP_PREFIX_STRLEN, "%s", a);
			}
			json_decref(res);
			free(out);
			ok++;
		}
		T_CHECK(ok == rows[r].pods, "%s: %u ADDs, want %u", rows[r].what, ok, rows[r].pods);
		T_CHECK(nhandles(&f) == (long)ok, "%s: a refused ADD left a handle", rows[r].what);
		/* STATUS agrees with ADD: not available (50) now, ready after one DEL. */
		snprintf(spec, sizeof(spec),
			 "{'cniVersion':'1.1.0','name':'net1'%s,'ipam':{'type':'blockipam',"
			 "'store':'%%s'%s}}",
			 rows[r].top, rows[r].ipam);
		T_CHECK(cni(&f, "STATUS", NULL, NULL, spec, &out) == 1 && tu_code(out) == 50,
			"%s: STATUS when full: %s", rows[r].what, out);
		free(out);
		T_CHECK_INT(cni(&f, "DEL", "m-0", "eth0", conf, &out), 0);
		free(out);
		T_CHECK(cni(&f, "STATUS", NULL, NULL, spec, &out) == 0, "%s: STATUS after a DEL: %s",
			rows[r].what, out);
		free(out);
		/* A specific address: the same length (and gateway) as the automatic one. */
		{
			char addr[BIP_PREFIX_STRLEN], *slash, top[512];
			json_t *res;

			snprintf(addr, sizeof(addr), "%s", first[0]);
			slash = strchr(addr, '/');
			if (slash)
				*slash = '\0';
			snprintf(top, sizeof(top), "%s,'runtimeConfig':{'ips':['%s/8']}", rows[r].top,
				 addr);
			snprintf(spec, sizeof(spec),
				 "{'cniVersion':'1.0.0','name':'net1'%s,'ipam':{'type':'blockipam',"
				 "'store':'%%s'%s}}",
				 top, rows[r].ipam);
			T_CHECK_INT(cni(&f, "ADD", "spec-1", "eth0", spec, &out), 0);
			res = js(out);
			T_CHECK_STR(ip0(res), first[0]);
			json_decref(res);
			free(out);
		}
		/* The subnet's network address and gateway are refused on request (101). */
		if (rows[r].keep) {
			struct bip_prefix p = {0};
			char top[512], a[BIP_ADDR_STRLEN];

			T_CHECK(bip_prefix_parse(first[0], &p) == BIP_OK, "%s", first[0]);
			for (int k = 0; k < 2; k++) {
				struct bip_prefix sub = {bip_prefix_first(p), p.len};

				bip_addr_fmt(bip_prefix_nth(sub, k ? (unsigned)rows[r].gw : 0), a);
				snprintf(top, sizeof(top), "%s,'runtimeConfig':{'ips':['%s']}",
					 rows[r].top, a);
				snprintf(spec, sizeof(spec),
					 "{'cniVersion':'1.0.0','name':'net1'%s,'ipam':{'type':"
					 "'blockipam','store':'%%s'%s}}",
					 top, rows[r].ipam);
				T_CHECK_INT(cni(&f, "ADD", "spec-2", "eth0", spec, &out), 1);
				T_CHECK(tu_code(out) == 101 &&
						strstr(out, k ? "is the gateway" : "is the network"),
					"%s: %s: %s", rows[r].what, a, out);
				free(out);
			}
		}
		fix_rm(&f);
	}
}

/* bridge: a requested address must be in the node's one IPv4 block (its bridge's subnet). */
static void test_add_bridge_requested(void)
{
	static const char *const pools[] = {"p4=10.65.0.0/24,28", "p4b=10.66.0.0/24,28", NULL};
	static const char fmt[] = "{'cniVersion':'1.0.0','name':'net1','type':'bridge',%s"
				  "'ipam':{'type':'blockipam','store':'%%s','node':'%s'}}";
	struct fix f;
	char conf[512], *out = NULL;
	struct bip_prefix mine = {0}, theirs = {0};
	json_t *res;
	char a[BIP_ADDR_STRLEN], req[128];
	const struct {
		const char *node;
		int block;      /* 0: node-a's block, 1: node-b's, 2: a block nobody holds, 3: one
				 * of the second pool (the network's too: no pool is named) */
		unsigned nth;   /* address in it */
		unsigned code;
		const char *msg;
	} rows[] = {
		{"node-a", 0, 9, 0, NULL},
		{"node-a", 0, 15, 101, "is the broadcast address of subnet"},
		{"node-a", 2, 5, 105, "outside the subnet"},
		{"node-a", 1, 5, 105, "outside the subnet"},
		{"node-a", 3, 5, 105, "outside the subnet"},
		{"node-c", 1, 5, 101, "not in a subnet of node 'node-c'"},
		{"node-c", 2, 5, 0, NULL},
	};

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	for (int n = 0; n < 2; n++) {
		snprintf(conf, sizeof(conf), fmt, "", n ? "node-b" : "node-a");
		T_CHECK_INT(cni(&f, "ADD", n ? "auto-b" : "auto-a", "eth0", conf, &out), 0);
		res = js(out);
		T_CHECK(bip_prefix_parse(ip0(res), n ? &theirs : &mine) == BIP_OK, "%s", out);
		json_decref(res);
		free(out);
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_prefix b = rows[i].block == 0 ? mine : theirs;
		char cid[32];

		b.addr = bip_prefix_first(b);
		if (rows[i].block == 2) /* the block after both: 10.65.0.x/28 nobody holds */
			for (b.addr = bip_addr_add(bip_prefix_first(mine), 16);
			     bip_prefix_contains((struct bip_prefix){bip_prefix_first(theirs), 28},
						 b.addr) ||
			     bip_prefix_contains((struct bip_prefix){bip_prefix_first(mine), 28},
						 b.addr);
			     b.addr = bip_addr_add(b.addr, 16))
				;
		if (rows[i].block == 3)
			bip_addr_parse("10.66.0.0", &b.addr);
		bip_addr_fmt(bip_addr_add(b.addr, rows[i].nth), a);
		snprintf(req, sizeof(req), "'runtimeConfig':{'ips':['%s']},", a);
		snprintf(conf, sizeof(conf), fmt, req, rows[i].node);
		snprintf(cid, sizeof(cid), "req-%zu", i);
		T_CHECK_INT(cni(&f, "ADD", cid, "eth0", conf, &out), rows[i].code ? 1 : 0);
		if (rows[i].code)
			T_CHECK(tu_code(out) == rows[i].code && strstr(out, rows[i].msg),
				"row %zu (%s on %s): %s", i, a, rows[i].node, out);
		else
			T_CHECK(strstr(out, "/28") && strstr(out, "gateway"), "row %zu: %s", i, out);
		free(out);
	}
	fix_rm(&f);
}

static void test_add_requested_and_gateway(void)
{
	static const char *const pools[] = {"p4=10.46.0.0/24,26", NULL};
	struct fix f;
	char conf[512], *out = NULL;
	json_t *res;

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	conf_for(conf, sizeof(conf), "1.0.0", ",'gateway':'169.254.1.1'",
		 ",'runtimeConfig':{'ips':['10.46.0.77/24']}");
	T_CHECK_INT(cni(&f, "ADD", "fixed-1", "eth0", conf, &out), 0);
	res = js(out);
	T_CHECK_STR(ip0(res), "10.46.0.77/26");
	T_CHECK_STR(json_string_value(json_object_get(
			    json_array_get(json_object_get(res, "ips"), 0), "gateway")),
		    "169.254.1.1");
	json_decref(res);
	free(out);
	/* the same address for another container: taken (101), naming it */
	T_CHECK_INT(cni(&f, "ADD", "fixed-2", "eth0", conf, &out), 1);
	T_CHECK_INT(tu_code(out), 101);
	free(out);
	/* via the Calico annotation */
	conf_for(conf, sizeof(conf), "1.0.0", "",
		 ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		 "'cni.projectcalico.org/ipAddrs':'[\\'10.46.0.78\\']'}}");
	T_CHECK_INT(cni(&f, "ADD", "fixed-3", "eth0", conf, &out), 0);
	res = js(out);
	T_CHECK_STR(ip0(res), "10.46.0.78/26");
	json_decref(res);
	free(out);
	/* outside every pool */
	conf_for(conf, sizeof(conf), "1.0.0", "", ",'args':{'cni':{'ips':['10.99.0.1']}}");
	T_CHECK_INT(cni(&f, "ADD", "fixed-4", "eth0", conf, &out), 1);
	T_CHECK(tu_code(out) >= 100, "%s", out);
	free(out);
	fix_rm(&f);
}

static void test_add_host_local_ranges(void)
{
	struct fix f;
	char conf[1024], *out = NULL;
	json_t *res, *ip;

	T_REQUIRE(fix_new(&f, NULL) == 0, "fixture");
	conf_for(conf, sizeof(conf), "0.4.0",
		 ",'ranges':[[{'subnet':'10.47.0.0/24','rangeStart':'10.47.0.10',"
		 "'rangeEnd':'10.47.0.20','gateway':'10.47.0.1'}]],"
		 "'routes':[{'dst':'0.0.0.0/0','gw':'10.47.0.1'}],"
		 "'dns':{'nameservers':['10.47.0.53'],'search':['example.org']}",
		 "");
	T_CHECK_INT(cni(&f, "ADD", "hl-1", "eth0", conf, &out), 0);
	res = js(out);
	ip = json_array_get(json_object_get(res, "ips"), 0);
	{
		struct bip_prefix p;
		struct bip_addr lo, hi;

		T_REQUIRE(bip_prefix_parse(ip0(res), &p) == BIP_OK, "%s", out);
		bip_addr_parse("10.47.0.10", &lo);
		bip_addr_parse("10.47.0.20", &hi);
		T_CHECK(p.len == 24 && bip_addr_cmp(p.addr, lo) >= 0 && bip_addr_cmp(p.addr, hi) <= 0,
			"%s", out);
	}
	T_CHECK_STR(json_string_value(json_object_get(ip, "gateway")), "10.47.0.1");
	T_CHECK_STR(json_string_value(json_object_get(ip, "version")), "4");
	T_CHECK_STR(json_string_value(json_array_get(
			    json_object_get(json_object_get(res, "dns"), "nameservers"), 0)),
		    "10.47.0.53");
	json_decref(res);
	free(out);
	T_CHECK_INT(cni(&f, "DEL", "hl-1", "eth0", conf, &out), 0);
	free(out);
	fix_rm(&f);
}

/* "a.b" + "c" and "a" + "b.c" spell one handle: the second must not get the first's address,
 * and the DEL that follows its refused ADD must not free it. */
static void test_add_handle_collision(void)
{
	static const char *const pools[] = {"p4=10.48.0.0/24,26", NULL};
	static const char ab[] = "{'cniVersion':'1.0.0','name':'a.b','ipam':{'type':'x','store':'%s'}}";
	static const char a[] = "{'cniVersion':'1.0.0','name':'a','ipam':{'type':'x','store':'%s'}}";
	struct fix f;
	char *out = NULL, *first = NULL, check[1024];
	json_t *r;

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	T_CHECK_INT(cni(&f, "ADD", "c", "eth0", ab, &first), 0);
	T_CHECK_INT(cni(&f, "ADD", "b.c", "eth0", a, &out), 1);
	T_CHECK_INT(tu_code(out), 106);
	T_CHECK(strstr(out, "belongs to container 'c'"), "%s", out);
	free(out);
	T_CHECK_INT(cni(&f, "DEL", "b.c", "eth0", a, &out), 0);
	free(out);
	T_CHECK(has_handle(&f, "a.b.c.eth0"), "the DEL of the other attachment released it");
	r = js(first);
	snprintf(check, sizeof(check),
		 "{'cniVersion':'1.0.0','name':'a','ipam':{'type':'x','store':'%%s'},"
		 "'prevResult':{'ips':[{'address':'%s'}]}}",
		 ip0(r));
	T_CHECK_INT(cni(&f, "CHECK", "b.c", "eth0", check, &out), 1);
	T_CHECK_INT(tu_code(out), 106);
	free(out);
	/* its own DEL still works */
	T_CHECK_INT(cni(&f, "DEL", "c", "eth0", ab, &out), 0);
	free(out);
	T_CHECK(!has_handle(&f, "a.b.c.eth0"), "not released");
	json_decref(r);
	free(first);
	fix_rm(&f);
}

/* --- CHECK --------------------------------------------------------------------------------------- */

static void test_check(void)
{
	static const char *const pools[] = {"p4=10.49.0.0/24,26", NULL};
	struct fix f;

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	for (size_t v = 2; v < NVERSIONS; v++) { /* CHECK exists from 0.4.0 */
		char conf[512], *out = NULL, *res = NULL, cid[32], other[32];
		json_t *r;

		snprintf(cid, sizeof(cid), "chk-%zu", v);
		snprintf(other, sizeof(other), "chk-other-%zu", v);
		conf_for(conf, sizeof(conf), versions[v], "", "");
		T_REQUIRE(cni(&f, "ADD", cid, "eth0", conf, &res) == 0, "%s", res);
		res[strcspn(res, "\n")] = '\0';
		/* CHECK with the ADD result as prevResult: success, nothing printed */
		{
			char c2[2048];

			snprintf(c2, sizeof(c2),
				 "{\"cniVersion\":\"%s\",\"name\":\"net1\",\"ipam\":{\"type\":"
				 "\"blockipam\",\"store\":\"%%s\"},\"prevResult\":%s}",
				 versions[v], res);
			T_CHECK_INT(cni(&f, "CHECK", cid, "eth0", c2, &out), 0);
			T_CHECK_STR(out, "");
			free(out);
			/* the same prevResult from another attachment: held by another handle */
			T_CHECK_INT(cni(&f, "CHECK", other, "eth0", c2, &out), 1);
			T_CHECK_INT(tu_code(out), 106);
			r = js(out);
			T_CHECK(strstr(json_string_value(json_object_get(r, "msg")), cid), "%s", out);
			json_decref(r);
			free(out);
		}
		/* an address the handle does not hold: named in the error */
		{
			char c2[1024];

			snprintf(c2, sizeof(c2),
				 "{'cniVersion':'%s','name':'net1','ipam':{'type':'x','store':'%%s'},"
				 "'prevResult':{'ips':[{'address':'10.49.0.250/26'}]}}",
				 versions[v]);
			T_CHECK_INT(cni(&f, "CHECK", cid, "eth0", c2, &out), 1);
			T_CHECK_INT(tu_code(out), 110);
			T_CHECK(strstr(out, "10.49.0.250"), "%s", out);
			free(out);
			/* after DEL, the address is missing */
			T_CHECK_INT(cni(&f, "DEL", cid, "eth0", conf, &out), 0);
			free(out);
		}
		{
			char c2[2048];

			snprintf(c2, sizeof(c2),
				 "{\"cniVersion\":\"%s\",\"name\":\"net1\",\"ipam\":{\"type\":"
				 "\"blockipam\",\"store\":\"%%s\"},\"prevResult\":%s}",
				 versions[v], res);
			T_CHECK_INT(cni(&f, "CHECK", cid, "eth0", c2, &out), 1);
			T_CHECK_INT(tu_code(out), 110);
			free(out);
		}
		free(res);
	}
	fix_rm(&f);
}

/* --- GC ------------------------------------------------------------------------------------------ */


static void test_gc(void)
{
	static const char *const pools[] = {"p4=10.50.0.0/24,26", NULL};
	static const char *const adds[][3] = {
		/* network, container, ifname */
		{"net1", "keep", "eth0"},	{"net1", "keep", "net1"}, {"net1", "stale", "eth0"},
		{"net1", "stale2", "eth0"},	{"net1.x", "c", "eth0"},  {"other", "stale", "eth0"},
		{"net1", "legacy", "eth0"},
	};
	struct fix f;
	char *out = NULL, conf[1024];

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
		char c[512];

		snprintf(c, sizeof(c),
			 "{'cniVersion':'1.1.0','name':'%s','ipam':{'type':'x','store':'%%s'}}",
			 adds[i][0]);
		T_CHECK_INT(cni(&f, "ADD", adds[i][1], adds[i][2], c, &out), 0);
		free(out);
	}
	snprintf(conf, sizeof(conf),
		 "{'cniVersion':'1.1.0','name':'net1','ipam':{'type':'x','store':'%%s'},"
		 "'cni.dev/valid-attachments':[{'containerID':'keep','ifname':'eth0'}],"
		 "'cni.dev/attachments':[{'containerID':'keep','ifname':'net1'},"
		 "{'containerID':'legacy','ifname':'eth0'}]}");
	T_CHECK_INT(cni(&f, "GC", NULL, NULL, conf, &out), 0);
	T_CHECK_STR(out, "");
	free(out);
	T_CHECK(has_handle(&f, "net1.keep.eth0"), "valid attachment released");
	T_CHECK(has_handle(&f, "net1.keep.net1"), "valid (legacy key) attachment released");
	T_CHECK(has_handle(&f, "net1.legacy.eth0"), "valid (legacy key) attachment released");
	T_CHECK(!has_handle(&f, "net1.stale.eth0"), "stale attachment kept");
	T_CHECK(!has_handle(&f, "net1.stale2.eth0"), "stale attachment kept");
	T_CHECK(has_handle(&f, "net1.x.c.eth0"), "GC of net1 touched network net1.x");
	T_CHECK(has_handle(&f, "other.stale.eth0"), "GC of net1 touched network other");
	/* GC with an empty list releases the rest of net1, nothing else */
	snprintf(conf, sizeof(conf),
		 "{'cniVersion':'1.1.0','name':'net1','ipam':{'type':'x','store':'%%s'},"
		 "'cni.dev/valid-attachments':[]}");
	T_CHECK_INT(cni(&f, "GC", NULL, NULL, conf, &out), 0);
	free(out);
	T_CHECK(!has_handle(&f, "net1.keep.eth0"), "not released");
	T_CHECK(has_handle(&f, "net1.x.c.eth0") && has_handle(&f, "other.stale.eth0"),
		"other networks touched");
	fix_rm(&f);
}

/* Two nodes on one store: node-a's GC names only node-a's attachments; node-b's live pods of the
 * same network are not in its list and must stay (a shared store's GC freed them once). */
static void test_gc_other_node(void)
{
	static const char *const pools[] = {"p4=10.52.0.0/24,26", NULL};
	static const char *const b_conf = "{'cniVersion':'1.1.0','name':'net1','ipam':{'type':'x',"
					  "'store':'%s','node':'node-b'}}";
	struct fix f;
	char *out = NULL;

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	T_CHECK_INT(cni(&f, "ADD", "b-live", "eth0", b_conf, &out), 0);
	free(out);
	T_CHECK_INT(cni(&f, "ADD", "a-live", "eth0",
			"{'cniVersion':'1.1.0','name':'net1','ipam':{'type':'x','store':'%s'}}", &out),
		    0);
	free(out);
	T_CHECK_INT(cni(&f, "ADD", "a-stale", "eth0",
			"{'cniVersion':'1.1.0','name':'net1','ipam':{'type':'x','store':'%s'}}", &out),
		    0);
	free(out);
	T_CHECK_INT(cni(&f, "GC", NULL, NULL,
			"{'cniVersion':'1.1.0','name':'net1','ipam':{'type':'x','store':'%s'},"
			"'cni.dev/valid-attachments':[{'containerID':'a-live','ifname':'eth0'}]}",
			&out),
		    0);
	free(out);
	T_CHECK(has_handle(&f, "net1.b-live.eth0"), "node-a's GC released node-b's live pod");
	T_CHECK(has_handle(&f, "net1.a-live.eth0"), "node-a's GC released its own live pod");
	T_CHECK(!has_handle(&f, "net1.a-stale.eth0"), "node-a's GC kept its stale handle");
	/* node-b's GC with an empty list releases node-b's handle only */
	T_CHECK_INT(cni(&f, "GC", NULL, NULL,
			"{'cniVersion':'1.1.0','name':'net1','ipam':{'type':'x','store':'%s',"
			"'node':'node-b'},'cni.dev/attachments':[]}",
			&out),
		    0);
	free(out);
	T_CHECK(!has_handle(&f, "net1.b-live.eth0"), "node-b's GC kept node-b's handle");
	T_CHECK(has_handle(&f, "net1.a-live.eth0"), "node-b's GC released node-a's live pod");
	fix_rm(&f);
}

/* --- STATUS -------------------------------------------------------------------------------------- */

static void test_status(void)
{
	static const char *const pools[] = {"tiny=10.51.0.0/30,30", NULL};
	struct fix f;
	char conf[512], *out = NULL, id[16];

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	conf_for(conf, sizeof(conf), "1.1.0", "", "");
	T_CHECK_INT(cni(&f, "STATUS", NULL, NULL, conf, &out), 0);
	T_CHECK_STR(out, "");
	free(out);
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "fill-%d", i);
		T_CHECK_INT(cni(&f, "ADD", id, "eth0", conf, &out), 0);
		free(out);
	}
	T_CHECK_INT(cni(&f, "ADD", "one-too-many", "eth0", conf, &out), 1);
	T_CHECK_INT(tu_code(out), 100);
	free(out);
	T_CHECK_INT(cni(&f, "STATUS", NULL, NULL, conf, &out), 1);
	T_CHECK_INT(tu_code(out), 50);
	T_CHECK(strstr(out, "IPv4"), "%s", out);
	free(out);
	T_CHECK_INT(cni(&f, "DEL", "fill-2", "eth0", conf, &out), 0);
	free(out);
	T_CHECK_INT(cni(&f, "STATUS", NULL, NULL, conf, &out), 0);
	free(out);
	/* a config naming a pool that does not exist: nothing eligible */
	conf_for(conf, sizeof(conf), "1.1.0", ",'ipv4_pools':['nope']", "");
	T_CHECK_INT(cni(&f, "STATUS", NULL, NULL, conf, &out), 1);
	T_CHECK_INT(tu_code(out), 50);
	free(out);
	fix_rm(&f);
	/* a store that cannot be opened */
	T_CHECK_INT(cni(&f, "STATUS", NULL, NULL,
			"{'cniVersion':'1.1.0','name':'n','ipam':{'type':'x',"
			"'store':'sqlite:///nonexistent-dir/ipam.db'}}",
			&out),
		    1);
	T_CHECK_INT(tu_code(out), 50);
	free(out);
}

/* A store in a directory that does not exist: an I/O failure (5; DEL: 11, to be retried), not
 * "not allocated" (110), and nothing is created. */
static void test_store_missing(void)
{
	static const struct {
		const char *cmd, *top;
		long code;
	} rows[] = {
		{"ADD", "", 5},
		{"DEL", "", 11},
		{"CHECK", ",'prevResult':{'ips':[{'address':'10.0.0.1/26'}]}", 5},
		{"GC", ",'cni.dev/valid-attachments':[]", 5},
		{"STATUS", "", 50},
	};
	struct fix f;
	char conf[512], dir[96], *out = NULL;
	struct stat sb;

	T_REQUIRE(fix_new(&f, NULL) == 0, "fixture");
	snprintf(dir, sizeof(dir), "%s/missing", f.dir);
	snprintf(f.store, sizeof(f.store), "sqlite://%s/ipam.db", dir);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		conf_for(conf, sizeof(conf), "1.1.0", "", rows[i].top);
		T_CHECK_INT(cni(&f, rows[i].cmd, "c1", "eth0", conf, &out), 1);
		T_CHECK(tu_code(out) == rows[i].code && strstr(out, "/missing"), "%s: want %ld: %s",
			rows[i].cmd, rows[i].code, out);
		free(out);
	}
	T_CHECK(stat(dir, &sb) != 0 && errno == ENOENT, "%s was created", dir);
	fix_rm(&f);
}

/* --- failures change nothing ------------------------------------------------------------------ */

static void test_errors_leave_store_unchanged(void)
{
	static const char *const pools[] = {"tiny=10.52.0.0/30,30", "p6=fd52::/120,122", NULL};
	static const struct {
		const char *cmd, *cid, *ifname;
		const char *ipam, *top;
		long code;
	} rows[] = {
		{"ADD", "late", "eth0", "", "", 100},                         /* exhausted */
		{"ADD", "dual", "eth0", ",'assign_ipv6':true", "", 100},      /* v6 ok, v4 full */
		{"ADD", "fixed", "eth0", "", ",'runtimeConfig':{'ips':['10.52.0.1']}", 101},
		{"ADD", "nopool", "eth0", ",'ipv4_pools':['nope']", "", 103},
		{"ADD", "bad", "eth0", ",'assign_ipv4':'maybe'", "", 7},
		{"ADD", "bad", "a/b", "", "", 4},
		{"CHECK", "c0", "eth0", "", ",'prevResult':{'ips':[{'address':'10.52.0.9/30'}]}", 110},
		{"GC", NULL, NULL, "", "", 7},
		{"STATUS", NULL, NULL, "", "", 50},
	};
	struct fix f;
	char conf[1024], *out = NULL, *before, *after, id[16];

	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	conf_for(conf, sizeof(conf), "1.1.0", "", "");
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		T_CHECK_INT(cni(&f, "ADD", id, "eth0", conf, &out), 0);
		free(out);
	}
	before = fix_dump(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		conf_for(conf, sizeof(conf), "1.1.0", rows[i].ipam, rows[i].top);
		T_CHECK_INT(cni(&f, rows[i].cmd, rows[i].cid, rows[i].ifname, conf, &out), 1);
		T_CHECK(tu_code(out) == rows[i].code, "row %zu: %s", i, out);
		free(out);
		after = fix_dump(&f);
		T_CHECK_STR(after, before);
		free(after);
	}
	free(before);
	fix_rm(&f);
}

/* --- many processes at once ------------------------------------------------------------------- */

static void plugin_path(char *buf, size_t n)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *b = getenv("BIP_BUILD");

	if (b) {
		snprintf(buf, n, "%s/blockipam", b);
		return;
	}
	if (len > 0) {
		exe[len] = '\0';
		*strrchr(exe, '/') = '\0'; /* build/tests */
		*strrchr(exe, '/') = '\0'; /* build */
		if (strlen(exe) + sizeof("/blockipam") <= n) {
			strcpy(buf, exe);
			strcat(buf, "/blockipam");
			return;
		}
	}
	snprintf(buf, n, "build/blockipam");
}

struct proc {
	pid_t pid;
	int out;
	char buf[4096];
	size_t len;
	int status;
};

/* Start the plugin binary with env and conf on stdin; stdout is read later. */
static int spawn(const char *plugin, char *const env[], const char *conf, struct proc *p)
{
	int in[2], out[2];

	if (pipe(in) || pipe(out))
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		char *argv[] = {(char *)plugin, NULL};

		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execve(plugin, argv, env);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (write(in[1], conf, strlen(conf)) != (ssize_t)strlen(conf))
		fprintf(stderr, "  short write to %d\n", (int)p->pid);
	close(in[1]);
	p->out = out[0];
	p->len = 0;
	return 0;
}

static void reap(struct proc *p)
{
	ssize_t n;

	while ((n = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len)) > 0)
		p->len += (size_t)n;
	p->buf[p->len] = '\0';
	close(p->out);
	waitpid(p->pid, &p->status, 0);
}

#define NPROC 200

static int run_many(const char *plugin, const char *cmd, struct fix *f, struct proc *procs)
{
	char conf[512], *json;

	snprintf(conf, sizeof(conf),
		 "{'cniVersion':'1.0.0','name':'net1','ipam':{'type':'blockipam',"
		 "'store':'%s'}}",
		 f->store);
	json = tu_dq(conf);
	for (int i = 0; i < NPROC; i++) {
		char c[32], id[64];
		char *env[] = {c,	       id, (char *)"CNI_NETNS=/var/run/netns/x",
			       (char *)"CNI_IFNAME=eth0", (char *)"CNI_PATH=/opt/cni/bin",
			       (char *)"BLOCKIPAM_NODE=node-a", NULL};

		snprintf(c, sizeof(c), "CNI_COMMAND=%s", cmd);
		snprintf(id, sizeof(id), "CNI_CONTAINERID=conc-%03d", i);
		if (spawn(plugin, env, json, &procs[i]) != 0) {
			free(json);
			return -1;
		}
	}
	for (int i = 0; i < NPROC; i++)
		reap(&procs[i]);
	free(json);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_concurrent_add(void)
{
	static const char *const pools[] = {"p4=10.53.0.0/22,26", NULL};
	static struct proc procs[NPROC];
	char plugin[PATH_MAX], *addrs[NPROC] = {NULL};
	struct fix f;
	int ok = 0;

	plugin_path(plugin, sizeof(plugin));
	if (access(plugin, X_OK) != 0)
		T_SKIP("the plugin binary is not built (make build/blockipam)");
	T_REQUIRE(fix_new(&f, pools) == 0, "fixture");
	T_REQUIRE(run_many(plugin, "ADD", &f, procs) == 0, "spawn: %s", strerror(errno));
	for (int i = 0; i < NPROC; i++) {
		json_t *j = js(procs[i].buf);
		const char *a = ip0(j);

		if (WIFEXITED(procs[i].status) && WEXITSTATUS(procs[i].status) == 0 && a) {
			addrs[ok++] = strdup(a);
		} else {
			T_CHECK(0, "process %d: status %d: %s", i, procs[i].status, procs[i].buf);
		}
		json_decref(j);
	}
	T_CHECK_INT(ok, NPROC);
	qsort(addrs, (size_t)ok, sizeof(addrs[0]), cmp_str);
	for (int i = 1; i < ok; i++)
		T_CHECK(strcmp(addrs[i - 1], addrs[i]) != 0, "duplicate address %s", addrs[i]);
	for (int i = 0; i < ok; i++)
		free(addrs[i]);
	T_REQUIRE(run_many(plugin, "DEL", &f, procs) == 0, "spawn: %s", strerror(errno));
	for (int i = 0; i < NPROC; i++)
		T_CHECK(WIFEXITED(procs[i].status) && WEXITSTATUS(procs[i].status) == 0 &&
				procs[i].len == 0,
			"DEL %d: status %d: %s", i, procs[i].status, procs[i].buf);
	T_CHECK_INT(nhandles(&f), 0);
	fix_rm(&f);
}

T_MAIN(T(test_add_del_every_version), T(test_add_dual_stack_and_prefix_modes),
       T(test_add_requested_and_gateway), T(test_add_main_plugin_models), T(test_add_bridge_requested), T(test_add_host_local_ranges),
       T(test_add_handle_collision), T(test_check), T(test_gc), T(test_gc_other_node), T(test_status),
       T(test_store_missing), T(test_errors_leave_store_unchanged), T(test_concurrent_add))
