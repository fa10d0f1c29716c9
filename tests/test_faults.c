/*
 * Faults injected on purpose. Each public operation of the library runs against a store that
 * fails its nth operation (store/fault), for n = 1, 2, ... until the operation completes
 * without the fault firing, under every way a store can fail: an error with nothing done, a
 * txn that loses a race, a write that happened but whose reply was lost (timed out), a list
 * that breaks off half-way, a store that goes down for good; and through the library's own hook,
 * a failed memory allocation (the nth and every later one, or only the nth). Each run starts
 * from the same stored state, and after it:
 *
 *   - the call returned the injected error (a lost race: it retried, or says "try again");
 *   - bip_ipam_check finds no problem that was not there before or is not left by the
 *     operation itself (pool delete leaves unowned blocks; the repair case starts broken);
 *   - read raw, with no library code: no address is held twice, and (unless the store was
 *     broken to begin with) each handle lists exactly what its blocks give it;
 *   - an operation that is one transaction and failed left the store byte for byte as it was
 *     (an operation of several transactions may have done some of them: the next point);
 *   - after a lost reply, repeating the allocation returns the addresses the handle got and
 *     takes no other, and releasing it works;
 *   - running the operation again with no fault ends in the state a run that never saw a
 *     fault ends in (timestamps and revisions aside).
 *
 * Then every operation against a store that loses every race, and pool delete past its retry
 * budgets. BIP_TEST_VERBOSE=1 prints each case's reference state.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/internal.h" /* the allocation hook's counters: did the nth allocation fail */
#include "../lib/txn.h"	     /* the retry budget */
#include "../store/fault/fault.h"
#include "blockipam/ipam.h"
#include "t.h"
#include "util.h"

struct env {
	char *dir;
	struct bip_store *st; /* SQLite */
	struct bip_store *fs; /* st behind the fault wrapper */
	struct bip_ipam *ip;  /* on fs: runs the operation under test */
	struct bip_ipam *raw; /* on st: setups and checks */
	struct bip_addr addr; /* the address a release-by-address case releases */
};

static int env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->dir = t_tmpdir();
	e->st = e->dir ? t_store(e->dir, NULL, 0) : NULL;
	if (!e->st || bip_fault_wrap(e->st, &e->fs) != BIP_OK)
		return -1;
	if (bip_ipam_new(e->fs, &e->ip) != BIP_OK || bip_ipam_new(e->st, &e->raw) != BIP_OK)
		return -1;
	return 0;
}

static void env_close(struct env *e)
{
	bip_ipam_free(e->ip);
	bip_ipam_free(e->raw);
	bip_store_close(e->fs);
	bip_store_close(e->st);
	t_rmdir(e->dir);
}

static int alloc_on(struct bip_ipam *ip, const char *handle, const char *node, unsigned n4,
		    unsigned n6)
{
	struct bip_alloc_req req = {.handle = handle, .node = node, .num4 = n4, .num6 = n6};
	struct bip_alloc_result r = {0};
	int rc = bip_ipam_allocate(ip, &req, &r);

	if (rc != BIP_OK)
		fprintf(stderr, "setup: allocate %s on %s: %s: %s\n", handle, node, bip_errname(rc),
			bip_ipam_errmsg(ip));
	bip_alloc_result_free(&r);
	return rc;
}

/* The first address a handle holds (setups of release-by-address cases). */
static int first_addr(struct env *e, const char *handle)
{
	struct bip_handle_info h = {0};
	int rc = bip_ipam_handle_get(e->raw, handle, &h);

	if (rc == BIP_OK && h.naddrs)
		e->addr = h.addrs[0].addr;
	bip_handle_info_clear(&h);
	return rc;
}

/* --- the store, whole ----------------------------------------------------------------------- */

/* Put the store back to a snapshot: one txn deleting what is new and writing every value. */
static int restore(struct env *e, const struct bip_kvs *snap)
{
	struct bip_kvs cur = {0};
	struct bip_op *ops;
	size_t n = 0, j = 0;
	int rc = bip_store_list(e->st, "", BIP_LIST_KEYS_ONLY, &cur);

	if (rc != BIP_OK)
		return rc;
	ops = calloc(cur.n + snap->n + 1, sizeof(*ops));
	if (!ops) {
		bip_kvs_free(&cur);
		return BIP_ENOMEM;
	}
	for (size_t i = 0; i < cur.n; i++) {
		int k = 1;

		while (j < snap->n && (k = strcmp(snap->v[j].key, cur.v[i].key)) < 0)
			j++;
		if (j >= snap->n || k != 0)
			ops[n++] = (struct bip_op){BIP_OP_DEL, cur.v[i].key, NULL, 0};
	}
	for (size_t i = 0; i < snap->n; i++)
		ops[n++] =
		    (struct bip_op){BIP_OP_PUT, snap->v[i].key, snap->v[i].value, snap->v[i].len};
	rc = bip_store_txn(e->st, NULL, 0, ops, n, NULL);
	free(ops);
	bip_kvs_free(&cur);
	return rc;
}

/* Every key and value, without revisions and with times as "T": two runs that did the same
 * thing at different moments dump the same. */
static char *norm_dump(struct bip_store *s)
{
	static const char *const stamps[] = {"\"time\":", "\"claimed\":", "\"emptySince\":"};
	struct bip_kvs kvs = {0};
	char *buf = NULL, *out, *o;
	size_t len = 0;
	FILE *f;

	if (bip_store_list(s, "", 0, &kvs) != BIP_OK)
		return strdup("(list failed)");
	f = open_memstream(&buf, &len);
	for (size_t i = 0; i < kvs.n; i++)
		fprintf(f, "%s=%s\n", kvs.v[i].key, (char *)kvs.v[i].value);
	fclose(f);
	bip_kvs_free(&kvs);
	out = malloc(len + 1);
	o = out;
	for (const char *p = buf; *p;) {
		size_t k = 0;

		for (size_t i = 0; i < 3 && !k; i++)
			if (strncmp(p, stamps[i], strlen(stamps[i])) == 0)
				k = strlen(stamps[i]);
		if (!k && *p >= '0' && *p <= '9' && strspn(p, "0123456789") >= 9 &&
		    (p == buf || p[-1] < '0' || p[-1] > '9')) {
			/* a unix time elsewhere (a block's release times, "cool") */
			*o++ = 'T';
			p += strspn(p, "0123456789");
			continue;
		}
		if (!k) {
			*o++ = *p++;
			continue;
		}
		memcpy(o, p, k);
		o += k;
		p += k;
		*o++ = 'T';
		while (*p >= '0' && *p <= '9')
			p++;
	}
	*o = '\0';
	free(buf);
	return out;
}

/* The first line where two dumps differ, for messages. */
static const char *first_diff(const char *a, const char *b)
{
	static char line[512];
	const char *s = a;

	for (; *a && *a == *b; a++, b++)
		if (*a == '\n')
			s = a + 1;
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(s, "\n"), s);
	return line;
}

/* --- reading the store raw ------------------------------------------------------------------ */

struct held {
	struct bip_addr addr;
	char *handle;
};

static const char *str(const json_t *j)
{
	return json_is_string(j) ? json_string_value(j) : "";
}

static int cmp_held(const void *x, const void *y)
{
	const struct held *a = x, *b = y;
	int k = bip_addr_cmp(a->addr, b->addr);

	return k ? k : strcmp(a->handle, b->handle);
}

static int cmp_pfx(const void *x, const void *y)
{
	return bip_prefix_cmp(*(const struct bip_prefix *)x, *(const struct bip_prefix *)y);
}

/*
 * The holding rules, from the JSON records alone (no library decoder): an ordinal appears once
 * in its block, blocks do not overlap, no address is held by two handles or listed by two
 * handle records, no handle lists an address its block gives another handle. strict (a store
 * that was sound to begin with): every listed address is given to that handle by its block, and
 * every given address is listed by its handle. Returns the number of broken rules; the first
 * is described in why.
 */
static int raw_holding(struct bip_store *st, bool strict, char *why, size_t whylen)
{
	struct bip_kvs blocks = {0}, handles = {0};
	struct held *given = NULL, *listed = NULL;
	struct bip_prefix *cidrs = NULL;
	size_t ngiven = 0, nlisted = 0, ncidrs = 0;
	char as[BIP_ADDR_STRLEN];
	int bad = 0;

	why[0] = '\0';
#define BAD(...)                                                                                   \
	do {                                                                                       \
		if (!bad++)                                                                        \
			snprintf(why, whylen, __VA_ARGS__);                                        \
	} while (0)
	if (bip_store_list(st, "blocks/", 0, &blocks) != BIP_OK ||
	    bip_store_list(st, "handles/", 0, &handles) != BIP_OK) {
		BAD("cannot list the store");
		goto out;
	}
	cidrs = calloc(blocks.n + 1, sizeof(*cidrs));
	for (size_t i = 0; i < blocks.n; i++) {
		json_error_t je;
		json_t *j = json_loadb((char *)blocks.v[i].value, blocks.v[i].len, 0, &je);
		json_t *alloc = json_object_get(j, "alloc"), *e;
		struct bip_prefix p;
		size_t k;

		if (bip_prefix_parse_net(str(json_object_get(j, "cidr")), &p) != BIP_OK) {
			if (strict)
				BAD("%s does not parse", blocks.v[i].key);
			json_decref(j);
			continue;
		}
		cidrs[ncidrs++] = p;
		given = realloc(given, (ngiven + json_array_size(alloc) + 1) * sizeof(*given));
		json_array_foreach(alloc, k, e)
		{
			json_int_t o = json_integer_value(json_array_get(e, 0));
			const char *h = json_string_value(json_array_get(e, 1));

			if (!h || o < 0 || (bip_u128)o > bip_prefix_last_ordinal(p)) {
				BAD("%s: bad entry %zu", blocks.v[i].key, k);
				continue;
			}
			given[ngiven++] = (struct held){bip_prefix_nth(p, (bip_u128)o), strdup(h)};
		}
		json_decref(j);
	}
	if (ncidrs)
		qsort(cidrs, ncidrs, sizeof(*cidrs), cmp_pfx);
	for (size_t i = 1; i < ncidrs; i++)
		if (bip_prefix_overlaps(cidrs[i - 1], cidrs[i]))
			BAD("blocks overlap");
	if (ngiven)
		qsort(given, ngiven, sizeof(*given), cmp_held);
	for (size_t i = 1; i < ngiven; i++)
		if (bip_addr_eq(given[i - 1].addr, given[i].addr))
			BAD("%s is given to '%s' and to '%s'", bip_addr_fmt(given[i].addr, as),
			    given[i - 1].handle, given[i].handle);
	for (size_t i = 0; i < handles.n; i++) {
		const char *id = handles.v[i].key + strlen("handles/");
		json_error_t je;
		json_t *j = json_loadb((char *)handles.v[i].value, handles.v[i].len, 0, &je);
		json_t *ips = json_object_get(j, "ips"), *e;
		size_t k;

		listed = realloc(listed, (nlisted + json_array_size(ips) + 1) * sizeof(*listed));
		json_array_foreach(ips, k, e)
		{
			struct bip_prefix p;

			if (bip_prefix_parse(str(e), &p) != BIP_OK) {
				BAD("%s: bad address %zu", handles.v[i].key, k);
				continue;
			}
			listed[nlisted++] = (struct held){p.addr, strdup(id)};
		}
		json_decref(j);
	}
	if (nlisted)
		qsort(listed, nlisted, sizeof(*listed), cmp_held);
	for (size_t i = 1; i < nlisted; i++)
		if (bip_addr_eq(listed[i - 1].addr, listed[i].addr))
			BAD("%s is listed by '%s' and by '%s'", bip_addr_fmt(listed[i].addr, as),
			    listed[i - 1].handle, listed[i].handle);
	/* Both sorted by address: walk them together. */
	for (size_t i = 0, g = 0; i < nlisted; i++) {
		while (g < ngiven && bip_addr_cmp(given[g].addr, listed[i].addr) < 0)
			g++;
		if (g < ngiven && bip_addr_eq(given[g].addr, listed[i].addr)) {
			if (strcmp(given[g].handle, listed[i].handle) != 0)
				BAD("'%s' lists %s, which its block gives to '%s'",
				    listed[i].handle, bip_addr_fmt(listed[i].addr, as),
				    given[g].handle);
		} else if (strict) {
			BAD("'%s' lists %s, which no block gives it", listed[i].handle,
			    bip_addr_fmt(listed[i].addr, as));
		}
	}
	for (size_t g = 0, i = 0; strict && g < ngiven; g++) {
		while (i < nlisted && bip_addr_cmp(listed[i].addr, given[g].addr) < 0)
			i++;
		if (i >= nlisted || !bip_addr_eq(listed[i].addr, given[g].addr))
			BAD("%s is given to '%s', whose record does not list it",
			    bip_addr_fmt(given[g].addr, as), given[g].handle);
	}
#undef BAD
out:
	for (size_t i = 0; i < ngiven; i++)
		free(given[i].handle);
	for (size_t i = 0; i < nlisted; i++)
		free(listed[i].handle);
	free(given);
	free(listed);
	free(cidrs);
	bip_kvs_free(&blocks);
	bip_kvs_free(&handles);
	return bad;
}

/* The problems bip_ipam_check reports, one "kind key subject" line each. */
static char *problems(struct env *e)
{
	struct bip_check_report rep = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc = bip_ipam_check(e->raw, false, &rep);

	if (rc != BIP_OK)
		return strdup("(check failed)\n");
	f = open_memstream(&buf, &len);
	for (size_t i = 0; i < rep.n; i++)
		fprintf(f, "%s %s %s\n", bip_problem_name(rep.v[i].kind), rep.v[i].key,
			rep.v[i].subject);
	fclose(f);
	bip_check_report_free(&rep);
	return buf;
}

/* A problem line of now that is in neither allowed list, or NULL. */
static const char *new_problem(const char *now, const char *a, const char *b)
{
	static char line[512];

	for (const char *p = now; *p;) {
		size_t n = strcspn(p, "\n");

		snprintf(line, sizeof(line), "%.*s\n", (int)n, p);
		if (!strstr(a, line) && !strstr(b, line)) {
			line[n] = '\0';
			return line;
		}
		p += n + (p[n] == '\n');
	}
	return NULL;
}

/* --- the operations --------------------------------------------------------------------------- */

/* Case flags. */
#define ONE_TXN 1u /* the operation is one transaction: on failure nothing may change */
#define BROKEN 2u  /* the stored state breaks the holding rules before the operation */
#define BLIND 4u   /* writes without a compare: it cannot lose a race */

struct fcase {
	const char *name;
	int (*setup)(struct env *e);
	/* res: the addresses an allocation returned (left empty by other operations) */
	int (*op)(struct env *e, struct bip_alloc_result *res);
	const char *handle; /* allocations: the requesting handle */
	unsigned flags;
	int done_rc; /* what the operation returns once its work is done (0 = BIP_OK) */
	int lost_rc; /* what it returns when every txn loses its race */
};

static int v4_pool(struct env *e)
{
	return t_pool(e->raw, "p", "10.0.0.0/24", 29, NULL);
}

static int dual_pools(struct env *e)
{
	int rc = v4_pool(e);

	return rc ? rc : t_pool(e->raw, "p6", "fd00::/120", 125, NULL);
}

static int set_own_block(struct env *e)
{
	int rc = v4_pool(e);

	return rc ? rc : alloc_on(e->raw, "h0", "n1", 1, 0);
}

static int op_alloc_own_block(struct env *e, struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = "net.c1.eth0",
				    .node = "n1",
				    .namespace = "ns1",
				    .attrs = {.pod = "pod1", .container = "c1", .ifname = "eth0"},
				    .num4 = 1};

	return bip_ipam_allocate(e->ip, &req, res);
}

static int op_alloc_claim(struct env *e, struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .num4 = 1};

	return bip_ipam_allocate(e->ip, &req, res);
}

static int op_alloc_dual(struct env *e, struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .num4 = 2, .num6 = 1};

	return bip_ipam_allocate(e->ip, &req, res);
}

/* One /29 pool, one block, held by n2: n1 can only borrow. */
static int set_borrow(struct env *e)
{
	int rc = t_pool(e->raw, "p", "10.0.0.0/29", 29, NULL);

	return rc ? rc : alloc_on(e->raw, "h0", "n2", 1, 0);
}

static int op_alloc_borrow(struct env *e, struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .num4 = 1};

	return bip_ipam_allocate(e->ip, &req, res);
}

static int set_specific(struct env *e)
{
	int rc = dual_pools(e);

	return rc ? rc : alloc_on(e->raw, "h0", "n1", 1, 0);
}

static int op_alloc_specific(struct env *e, struct bip_alloc_result *res)
{
	struct bip_addr ips[2] = {t_addr("10.0.0.77"), t_addr("fd00::5")};
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .ips = ips, .nips = 2};

	return bip_ipam_allocate(e->ip, &req, res);
}

static int set_held(struct env *e)
{
	int rc = dual_pools(e);

	if (!rc)
		rc = alloc_on(e->raw, "h1", "n1", 2, 1);
	if (!rc)
		rc = alloc_on(e->raw, "h2", "n1", 1, 0);
	return rc ? rc : first_addr(e, "h1");
}

static int op_release_handle(struct env *e, struct bip_alloc_result *res)
{
	(void)res;
	return bip_ipam_release_handle(e->ip, "h1");
}

static int op_release_addr(struct env *e, struct bip_alloc_result *res)
{
	(void)res;
	return bip_ipam_release_addr(e->ip, e->addr, "h1");
}

/* n2's block, left unowned when n2 went away, holds one address: releasing it deletes it. */
static int set_unowned(struct env *e)
{
	int rc = v4_pool(e);

	if (!rc)
		rc = alloc_on(e->raw, "h2", "n2", 1, 0);
	if (!rc)
		rc = bip_ipam_node_release(e->raw, "n2", NULL, NULL);
	return rc ? rc : first_addr(e, "h2");
}

static int op_release_addr_unowned(struct env *e, struct bip_alloc_result *res)
{
	(void)res;
	return bip_ipam_release_addr(e->ip, e->addr, NULL);
}

static int op_pool_create(struct env *e, struct bip_alloc_result *res)
{
	struct bip_pool p = {.name = "q", .block_len = 26, .node_selector = "zone == 'a'"};

	(void)res;
	p.cidr = t_prefix("10.1.0.0/24");
	return bip_ipam_pool_put(e->ip, &p, false);
}

static int op_pool_disable(struct env *e, struct bip_alloc_result *res)
{
	struct bip_pool p = {.name = "p", .block_len = 29, .disabled = true};

	(void)res;
	p.cidr = t_prefix("10.0.0.0/24");
	return bip_ipam_pool_put(e->ip, &p, false);
}

/* Pool p: n1's block holds an address, n2's is empty; pool rest (after p in order) stays. */
static int set_pool_delete(struct env *e)
{
	int rc = v4_pool(e);

	if (!rc)
		rc = t_pool(e->raw, "rest", "10.5.0.0/24", 26, NULL);
	if (!rc)
		rc = alloc_on(e->raw, "h1", "n1", 1, 0);
	if (!rc)
		rc = alloc_on(e->raw, "h2", "n2", 1, 0);
	return rc ? rc : bip_ipam_release_handle(e->raw, "h2");
}

static int op_pool_delete(struct env *e, struct bip_alloc_result *res)
{
	(void)res;
	return bip_ipam_pool_delete(e->ip, "p");
}

static int set_node(struct env *e)
{
	struct bip_label l = {"zone", "a"};
	struct bip_node n = {.name = "n1", .labels = {&l, 1}};
	int rc = v4_pool(e);

	return rc ? rc : bip_ipam_node_put(e->raw, &n);
}

static int op_node_put(struct env *e, struct bip_alloc_result *res)
{
	struct bip_label l[2] = {{"zone", "b"}, {"rack", "r7"}};
	struct bip_addr a = t_addr("192.168.1.1");
	struct bip_prefix pc = t_prefix("10.9.0.0/24");
	struct bip_node n = {.name = "n1",
			     .labels = {l, 2},
			     .addrs = &a,
			     .naddrs = 1,
			     .pod_cidrs = &pc,
			     .npod_cidrs = 1};

	(void)res;
	return bip_ipam_node_put(e->ip, &n);
}

/* n1: a full block emptied and a block holding one address; n2: a block of its own. */
static int set_node_release(struct env *e)
{
	int rc = v4_pool(e);

	if (!rc)
		rc = alloc_on(e->raw, "a", "n1", 8, 0);
	if (!rc)
		rc = alloc_on(e->raw, "b", "n1", 1, 0);
	if (!rc)
		rc = alloc_on(e->raw, "c", "n2", 1, 0);
	return rc ? rc : bip_ipam_release_handle(e->raw, "a");
}

static int op_node_release(struct env *e, struct bip_alloc_result *res)
{
	(void)res;
	return bip_ipam_node_release(e->ip, "n1", NULL, NULL);
}

/* Empty blocks of n1 and n2, a used one of n3. */
static int set_empty_blocks(struct env *e)
{
	int rc = v4_pool(e);

	if (!rc)
		rc = alloc_on(e->raw, "a", "n1", 1, 0);
	if (!rc)
		rc = alloc_on(e->raw, "b", "n2", 1, 0);
	if (!rc)
		rc = alloc_on(e->raw, "c", "n3", 1, 0);
	if (!rc)
		rc = bip_ipam_release_handle(e->raw, "a");
	return rc ? rc : bip_ipam_release_handle(e->raw, "b");
}

static int op_release_empty(struct env *e, struct bip_alloc_result *res)
{
	(void)res;
	return bip_ipam_release_empty_blocks(e->ip, 0, NULL);
}

/* The breakage test_check_and_repair makes: what crashes of other IPAMs leave behind. */
static int set_broken(struct env *e)
{
	char key[128], own[128], kp[BIP_PREFIX_STRLEN];
	struct bip_handle_info h = {0};
	int rc = t_pool(e->raw, "p", "10.0.0.0/24", 26, NULL);

	if (!rc)
		rc = alloc_on(e->raw, "h1", "n1", 1, 0);
	if (!rc)
		rc = alloc_on(e->raw, "h2", "n1", 1, 0);
	if (!rc)
		rc = bip_ipam_handle_get(e->raw, "h1", &h);
	if (rc)
		return rc;
	h.addrs[0].addr.v &= bip_mask(h.addrs[0].addr.family, h.addrs[0].len);
	bip__cidr_keypart(h.addrs[0], kp);
	bip_handle_info_clear(&h);
	snprintf(key, sizeof(key), "affinity/n3/%s", kp);
	snprintf(own, sizeof(own), "affinity/n1/%s", kp);
	/* h1's record lost, a handle naming a free address, affinities without blocks or naming
	 * another node's block, pending ones, a block outside every pool, a record of garbage */
	return t_del(e->st, "handles/h1") ||
	       t_put(e->st, "handles/ghost", "{\"ips\":[\"10.0.0.50/26\"],\"time\":1}") ||
	       t_put(e->st, "affinity/n2/10.0.1.0-26", "{\"state\":\"confirmed\"}") ||
	       t_put(e->st, key, "{\"state\":\"confirmed\"}") ||
	       t_put(e->st, "affinity/n4/10.0.2.0-26", "{\"state\":\"pending\"}") ||
	       t_put(e->st, own, "{\"state\":\"pending\"}") ||
	       t_put(e->st, "blocks/10.9.0.0-26",
		     "{\"cidr\":\"10.9.0.0/26\",\"alloc\":[[1,\"h9\"]]}") ||
	       t_put(e->st, "handles/h9", "{\"ips\":[\"10.9.0.1/26\"]}") ||
	       t_put(e->st, "blocks/10.0.3.0-26", "{\"cidr\":\"garbage\"}");
}

static int op_check_repair(struct env *e, struct bip_alloc_result *res)
{
	struct bip_check_report rep = {0};
	int rc = bip_ipam_check(e->ip, true, &rep);

	(void)res;
	bip_check_report_free(&rep);
	return rc;
}

static int op_check(struct env *e, struct bip_alloc_result *res)
{
	struct bip_check_report rep = {0};
	int rc = bip_ipam_check(e->ip, false, &rep);

	(void)res;
	bip_check_report_free(&rep);
	return rc;
}

/* h1 holds an IPv4 address and now asks for an IPv6 one too. */
static int set_v4_held(struct env *e)
{
	int rc = dual_pools(e);

	return rc ? rc : alloc_on(e->raw, "h1", "n1", 1, 0);
}

static int op_alloc_add_v6(struct env *e, struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .num4 = 1, .num6 = 1};

	return bip_ipam_allocate(e->ip, &req, res);
}

/* A plain host-local config: two range sets, one per family. */
static int op_alloc_ranges(struct env *e, struct bip_alloc_result *res)
{
	struct bip_range ranges[2] = {{.subnet = t_prefix("192.168.10.0/24"),
				       .start = t_addr("192.168.10.10"),
				       .gateway = t_addr("192.168.10.1")},
				      {.subnet = t_prefix("2001:db8::/120"), .set = 1}};
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .ranges = ranges, .nranges = 2};

	return bip_ipam_allocate(e->ip, &req, res);
}

static int set_pod_cidr(struct env *e)
{
	struct bip_prefix pc = t_prefix("10.244.1.0/24");
	struct bip_node n = {.name = "n1", .pod_cidrs = &pc, .npod_cidrs = 1};
	int rc = v4_pool(e);

	if (!rc)
		rc = bip_ipam_node_put(e->raw, &n);
	return rc ? rc : alloc_on(e->raw, "h0", "n1", 1, 0);
}

static int op_alloc_pod_cidr(struct env *e, struct bip_alloc_result *res)
{
	struct bip_alloc_req req = {.handle = "h1", .node = "n1", .num4 = 1};

	return bip_ipam_allocate(e->ip, &req, res);
}

static int op_config_set(struct env *e, struct bip_alloc_result *res)
{
	struct bip_config cfg = {.strict_affinity = true, .max_blocks_per_host = 3};

	(void)res;
	return bip_ipam_config_set(e->ip, &cfg);
}

static int op_reservation_put(struct env *e, struct bip_alloc_result *res)
{
	struct bip_prefix cidrs[2] = {t_prefix("10.0.0.0/30"), t_prefix("fd00::1")};
	struct bip_reservation r = {.name = "r1", .cidrs = cidrs, .ncidrs = 2};

	(void)res;
	return bip_ipam_reservation_put(e->ip, &r);
}

static int set_namespace(struct env *e)
{
	char *pools[] = {"p"};
	struct bip_namespace ns = {.name = "ns1", .pools = pools, .npools = 1};
	int rc = v4_pool(e);

	return rc ? rc : bip_ipam_namespace_put(e->raw, &ns);
}

static int op_namespace_delete(struct env *e, struct bip_alloc_result *res)
{
	(void)res;
	return bip_ipam_namespace_delete(e->ip, "ns1");
}

#define A BIP_EAGAIN
#define NF BIP_ENOTFOUND
static const struct fcase cases[] = {
    /* name, setup, operation, handle (allocations), flags, done_rc, lost_rc */
    {"allocate IPv4 from the node's block", set_own_block, op_alloc_own_block, "net.c1.eth0",
     ONE_TXN, 0, A},
    {"allocate IPv4 claiming a block", v4_pool, op_alloc_claim, "h1", ONE_TXN, 0, A},
    {"allocate dual stack", dual_pools, op_alloc_dual, "h1", ONE_TXN, 0, A},
    {"allocate IPv6 for a handle holding IPv4", set_v4_held, op_alloc_add_v6, "h1", ONE_TXN, 0, A},
    {"allocate borrowing", set_borrow, op_alloc_borrow, "h1", ONE_TXN, 0, A},
    {"allocate specific addresses", set_specific, op_alloc_specific, "h1", ONE_TXN, 0, A},
    {"allocate from host-local ranges", v4_pool, op_alloc_ranges, "h1", ONE_TXN, 0, A},
    {"allocate from the node's pod CIDR", set_pod_cidr, op_alloc_pod_cidr, "h1", ONE_TXN, 0, A},
    {"release by handle", set_held, op_release_handle, NULL, ONE_TXN, NF, A},
    {"release by address", set_held, op_release_addr, NULL, ONE_TXN, NF, A},
    {"release the last address of an unowned block", set_unowned, op_release_addr_unowned, NULL,
     ONE_TXN, NF, A},
    {"pool put (create)", set_own_block, op_pool_create, NULL, ONE_TXN, 0, A},
    {"pool put (update)", set_own_block, op_pool_disable, NULL, ONE_TXN, 0, A},
    {"pool delete", set_pool_delete, op_pool_delete, NULL, 0, NF, A},
    {"node put", set_node, op_node_put, NULL, ONE_TXN, 0, A},
    {"node release", set_node_release, op_node_release, NULL, 0, 0, A},
    {"release empty blocks", set_empty_blocks, op_release_empty, NULL, 0, 0, 0},
    {"config set", v4_pool, op_config_set, NULL, ONE_TXN | BLIND, 0, 0},
    {"reservation put", v4_pool, op_reservation_put, NULL, ONE_TXN | BLIND, 0, 0},
    {"namespace delete", set_namespace, op_namespace_delete, NULL, ONE_TXN, NF, A},
    {"check", set_broken, op_check, NULL, ONE_TXN | BROKEN, 0, 0},
    {"check --repair on a broken store", set_broken, op_check_repair, NULL, BROKEN, 0, 0},
};
#undef A
#undef NF
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* --- the ways a store fails ---------------------------------------------------------------------
 */

/* Not the store: the library's allocation hook fails the nth allocation and every later one,
 * or only the nth (a failure a caller swallowed shows only then). */
#define OOM ((enum bip_fault_mode) - 1)
#define OOM_ONCE ((enum bip_fault_mode) - 2)

static const struct fmode {
	const char *name;
	enum bip_fault_mode mode;
	int err;
} modes[] = {
    {"fail-EIO", BIP_FAULT_FAIL, BIP_EIO},
    {"fail-EAGAIN", BIP_FAULT_FAIL, BIP_EAGAIN},
    {"conflict", BIP_FAULT_CONFLICT, BIP_EAGAIN},
    {"lost-reply-EAGAIN", BIP_FAULT_LOST_REPLY, BIP_EAGAIN},
    {"lost-reply-ETIMEDOUT", BIP_FAULT_LOST_REPLY, BIP_ETIMEDOUT},
    {"half-list", BIP_FAULT_LIST_HALF, BIP_EIO},
    {"down", BIP_FAULT_DOWN, BIP_EAGAIN},
    {"oom", OOM, BIP_ENOMEM},
    {"oom-once", OOM_ONCE, BIP_ENOMEM},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static void arm(struct env *e, const struct fmode *m, unsigned long n)
{
	struct bip_fault_plan plan = {.mode = m->mode, .nth = n, .err = m->err};

	if (m->mode == OOM || m->mode == OOM_ONCE) {
		bip_ipam_fail_alloc_after(e->ip, (long)n);
		e->ip->fail_once = m->mode == OOM_ONCE;
	} else {
		bip_fault_arm(e->fs, &plan);
	}
}

/* Disarm; whether the fault fired. */
static bool disarm(struct env *e, const struct fmode *m)
{
	bool fired;

	if (m->mode == OOM || m->mode == OOM_ONCE) {
		fired = e->ip->nallocs >= e->ip->fail_after;
		bip_ipam_fail_alloc_after(e->ip, 0);
	} else {
		fired = bip_fault_injected(e->fs) > 0;
		bip_fault_arm(e->fs, NULL);
	}
	return fired;
}

/* The addresses of a result as text ("10.0.0.1,fd00::1"), or those a handle record lists. */
static char *addrs_text(const struct bip_alloc_result *r, const struct bip_handle_info *h)
{
	char *buf = NULL, as[BIP_ADDR_STRLEN];
	size_t len = 0, n = r ? r->n : h->naddrs;
	FILE *f = open_memstream(&buf, &len);

	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "",
			bip_addr_fmt(r ? r->v[i].addr : h->addrs[i].addr, as));
	fclose(f);
	return buf;
}

/* What a run that never sees a fault does. */
struct ref {
	char *start;	/* snapshot's problems */
	char *dump;	/* normalized state after the operation */
	char *problems; /* problems left by the operation itself */
	char *addrs;	/* an allocation's addresses */
};

struct ctx {
	struct env *e;
	const struct fcase *c;
	const struct fmode *m;
	const struct bip_kvs *snap;
	const struct ref *ref;
	unsigned long n;
};

#define WHERE "%s, %s, n=%lu: "
#define WHERE_ARGS x->c->name, x->m->name, x->n

/* The invariants of the stored state, after any run. */
static void check_state(const struct ctx *x)
{
	char why[512], *now = problems(x->e);
	const char *p = new_problem(now, x->ref->start, x->ref->problems);
	int bad = raw_holding(x->e->st, !(x->c->flags & BROKEN), why, sizeof(why));

	T_CHECK(!p, WHERE "new problem: %s", WHERE_ARGS, p);
	T_CHECK(!bad, WHERE "%d holding rules broken, first: %s", WHERE_ARGS, bad, why);
	free(now);
}

/* Run the operation again with no fault: it must end where the reference run did. */
static void check_rerun(const struct ctx *x)
{
	struct bip_alloc_result r = {0};
	int rc = x->c->op(x->e, &r);
	char *d;

	T_CHECK(rc == BIP_OK || rc == x->c->done_rc, WHERE "run again: %s (%s)", WHERE_ARGS,
		bip_errname(rc), bip_ipam_errmsg(x->e->ip));
	if (x->c->handle && rc == BIP_OK) {
		char *a = addrs_text(&r, NULL);

		T_CHECK_STR(a, x->ref->addrs);
		free(a);
	}
	bip_alloc_result_free(&r);
	d = norm_dump(x->e->st);
	T_CHECK(strcmp(d, x->ref->dump) == 0,
		WHERE "run again: not the state of a run without "
		      "faults, from: %s",
		WHERE_ARGS, first_diff(d, x->ref->dump));
	free(d);
	check_state(x);
}

/* A write that happened though the caller heard "try again": the retry of the same request
 * gets what the handle holds, takes nothing else, and the addresses can be released. */
static void check_lost_alloc(const struct ctx *x)
{
	struct bip_handle_info h = {0};
	struct bip_alloc_result r = {0};
	char *held = NULL, *got = NULL;
	int rc = bip_ipam_handle_get(x->e->raw, x->c->handle, &h);

	T_CHECK(rc == BIP_OK, WHERE "the lost write left no handle record: %s", WHERE_ARGS,
		bip_errname(rc));
	held = rc == BIP_OK ? addrs_text(NULL, &h) : strdup("");
	bip_handle_info_clear(&h);
	rc = x->c->op(x->e, &r);
	T_CHECK(rc == BIP_OK, WHERE "retry: %s (%s)", WHERE_ARGS, bip_errname(rc),
		bip_ipam_errmsg(x->e->ip));
	if (rc == BIP_OK) {
		got = addrs_text(&r, NULL);
		T_CHECK(r.existing, WHERE "retry did not return what the handle holds", WHERE_ARGS);
		T_CHECK(strcmp(got, held) == 0, WHERE "retry got %s, the handle holds %s",
			WHERE_ARGS, got, held);
		T_CHECK(strcmp(got, x->ref->addrs) == 0, WHERE "retry got %s, a clean run %s",
			WHERE_ARGS, got, x->ref->addrs);
	}
	bip_alloc_result_free(&r);
	check_rerun(x); /* a third time: still the same, still nothing more */
	rc = bip_ipam_release_handle(x->e->ip, x->c->handle);
	T_CHECK(rc == BIP_OK, WHERE "release after the retry: %s", WHERE_ARGS, bip_errname(rc));
	rc = bip_ipam_handle_get(x->e->raw, x->c->handle, &h);
	T_CHECK(rc == BIP_ENOTFOUND, WHERE "handle still there after release", WHERE_ARGS);
	bip_handle_info_clear(&h);
	check_state(x);
	free(held);
	free(got);
}

/* One run with the fault armed at n; false once the fault no longer fires. */
static bool run_once(struct ctx *x, unsigned long *points)
{
	struct env *e = x->e;
	struct bip_alloc_result r = {0};
	char *before, *after;
	bool fired;
	int rc;

	if (restore(e, x->snap) != BIP_OK) {
		T_CHECK(0, WHERE "cannot restore the snapshot", WHERE_ARGS);
		return false;
	}
	before = t_dump(e->st);
	arm(e, x->m, x->n);
	rc = x->c->op(e, &r);
	fired = disarm(e, x->m);
	after = t_dump(e->st);
	if (!fired) {
		/* Past the last operation: the run must be a clean one. */
		char *d = norm_dump(e->st);

		T_CHECK(rc == BIP_OK, WHERE "no fault, yet %s (%s)", WHERE_ARGS, bip_errname(rc),
			bip_ipam_errmsg(e->ip));
		T_CHECK(strcmp(d, x->ref->dump) == 0, WHERE "no fault, yet another state, from: %s",
			WHERE_ARGS, first_diff(d, x->ref->dump));
		free(d);
		goto out;
	}
	(*points)++;
	/* A lost race is retried, by every write (one retry helper, lib/txn.c); any other fault
	 * reaches the caller. */
	if (x->m->mode == BIP_FAULT_CONFLICT)
		T_CHECK(rc == BIP_OK, WHERE "a lost race was not retried: got %s (%s)", WHERE_ARGS,
			bip_errname(rc), bip_ipam_errmsg(e->ip));
	else
		T_CHECK(rc == x->m->err, WHERE "got %s (%s)", WHERE_ARGS, bip_errname(rc),
			bip_ipam_errmsg(e->ip));
	if (rc != BIP_OK && x->m->mode != BIP_FAULT_LOST_REPLY && (x->c->flags & ONE_TXN))
		T_CHECK(strcmp(before, after) == 0, WHERE "failed, yet the store changed, from: %s",
			WHERE_ARGS, first_diff(after, before));
	check_state(x);
	if (rc != BIP_OK && x->m->mode == BIP_FAULT_LOST_REPLY && x->c->handle)
		check_lost_alloc(x);
	else
		check_rerun(x);
out:
	bip_alloc_result_free(&r);
	free(before);
	free(after);
	return fired;
}

static void test_case(void)
{
	const struct fcase *c = t_arg;
	struct bip_kvs snap = {0};
	struct ref ref = {0};
	struct bip_alloc_result r = {0};
	unsigned long points[NMODES] = {0}, total = 0;
	struct env e;
	int rc;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(c->setup(&e) == BIP_OK, "setup of '%s'", c->name);
	T_REQUIRE(bip_store_list(e.st, "", 0, &snap) == BIP_OK);
	ref.start = problems(&e);
	rc = c->op(&e, &r);
	T_CHECK(rc == BIP_OK, "%s without faults: %s (%s)", c->name, bip_errname(rc),
		bip_ipam_errmsg(e.ip));
	ref.dump = norm_dump(e.st);
	ref.problems = problems(&e);
	ref.addrs = addrs_text(&r, NULL);
	if (getenv("BIP_TEST_VERBOSE"))
		fprintf(stderr,
			"== %s\n-- start problems:\n%s-- ref:\n%s-- problems:\n%s-- addrs %s\n",
			c->name, ref.start, ref.dump, ref.problems, ref.addrs);
	bip_alloc_result_free(&r);
	for (size_t m = 0; m < NMODES; m++) {
		struct ctx x = {&e, c, &modes[m], &snap, &ref, 0};

		for (x.n = 1; x.n < 100000; x.n++) {
			int failed = t_failed_checks;

			if (!run_once(&x, &points[m]))
				break;
			if (t_failed_checks - failed > 0 && t_failed_checks > 40)
				break; /* one broken rule tends to break it at every n */
		}
		total += points[m];
	}
	printf("   %-46s %4lu fault points:", c->name, total);
	for (size_t m = 0; m < NMODES; m++)
		printf(" %s %lu", modes[m].name, points[m]);
	printf("\n");
	T_CHECK(total > 0, "no fault fired");
	bip_kvs_free(&snap);
	free(ref.start);
	free(ref.dump);
	free(ref.problems);
	free(ref.addrs);
	env_close(&e);
}

/* --- the wrapper itself
 * --------------------------------------------------------------------------- */

static int count_cb(void *ctx, const struct bip_kv *kv)
{
	(void)kv;
	(*(int *)ctx)++;
	return 0;
}

static void test_fault_store(void)
{
	static const struct {
		struct bip_fault_plan plan;
		/* the sequence get k1, txn put k9, list "", get k2 */
		int get1, txn, list, get2;
		bool k9;    /* the txn's write is there */
		int listed; /* entries the list callback saw (of 5) */
	} rows[] = {
	    {{BIP_FAULT_OFF, 1, BIP_EIO}, BIP_OK, BIP_OK, BIP_OK, BIP_OK, true, 5},
	    {{BIP_FAULT_FAIL, 1, BIP_EIO}, BIP_EIO, BIP_OK, BIP_OK, BIP_OK, true, 5},
	    {{BIP_FAULT_FAIL, 2, BIP_EAGAIN}, BIP_OK, BIP_EAGAIN, BIP_OK, BIP_OK, false, 4},
	    {{BIP_FAULT_FAIL, 3, BIP_EIO}, BIP_OK, BIP_OK, BIP_EIO, BIP_OK, true, 0},
	    {{BIP_FAULT_FAIL, 5, BIP_EIO}, BIP_OK, BIP_OK, BIP_OK, BIP_OK, true, 5},
	    {{BIP_FAULT_FAIL, 0, BIP_EIO}, BIP_OK, BIP_OK, BIP_OK, BIP_OK, true, 5},
	    {{BIP_FAULT_FAIL, 2, BIP_EIO, BIP_FAULT_GET}, BIP_OK, BIP_OK, BIP_OK, BIP_EIO, true, 5},
	    {{BIP_FAULT_FAIL, 2, BIP_EIO, 0, 2}, BIP_OK, BIP_EIO, BIP_EIO, BIP_OK, false, 0},
	    {{BIP_FAULT_CONFLICT, 1}, BIP_OK, BIP_ECONFLICT, BIP_OK, BIP_OK, false, 4},
	    {{BIP_FAULT_CONFLICT, 2}, BIP_OK, BIP_OK, BIP_OK, BIP_OK, true, 5},
	    {{BIP_FAULT_LOST_REPLY, 1, BIP_ETIMEDOUT},
	     BIP_OK,
	     BIP_ETIMEDOUT,
	     BIP_OK,
	     BIP_OK,
	     true,
	     5},
	    {{BIP_FAULT_LIST_HALF, 1, BIP_EIO}, BIP_OK, BIP_OK, BIP_EIO, BIP_OK, true, 2},
	    {{BIP_FAULT_DOWN, 2, BIP_EAGAIN}, BIP_OK, BIP_EAGAIN, BIP_EAGAIN, BIP_EAGAIN, false, 0},
	    {{BIP_FAULT_DOWN, 3, BIP_EIO, BIP_FAULT_LIST}, BIP_OK, BIP_OK, BIP_OK, BIP_OK, true, 5},
	};
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_cmp absent = {"k9", 0};
		struct bip_op put = {BIP_OP_PUT, "k9", "v", 1};
		struct bip_kv kv = {0};
		unsigned long injected;
		int64_t rev;
		int listed = 0, rc;

		T_REQUIRE(t_del(e.st, "k9") == BIP_OK);
		for (int k = 1; k <= 4; k++) {
			char key[8];

			snprintf(key, sizeof(key), "k%d", k);
			T_REQUIRE(t_put(e.st, key, "v") == BIP_OK);
		}
		bip_fault_arm(e.fs, &rows[i].plan);
		rc = bip_store_get(e.fs, "k1", &kv);
		T_CHECK(rc == rows[i].get1, "row %zu get: %s", i, bip_errname(rc));
		bip_kv_clear(&kv);
		rc = bip_store_txn(e.fs, &absent, 1, &put, 1, NULL);
		T_CHECK(rc == rows[i].txn, "row %zu txn: %s", i, bip_errname(rc));
		rc = bip_store_list_cb(e.fs, "", 0, count_cb, &listed, &rev);
		T_CHECK(rc == rows[i].list, "row %zu list: %s", i, bip_errname(rc));
		T_CHECK(listed == rows[i].listed, "row %zu: listed %d, want %d", i, listed,
			rows[i].listed);
		rc = bip_store_get(e.fs, "k2", &kv);
		T_CHECK(rc == rows[i].get2, "row %zu get: %s", i, bip_errname(rc));
		bip_kv_clear(&kv);
		injected = (rows[i].get1 != BIP_OK) + (rows[i].txn != BIP_OK) +
			   (rows[i].list != BIP_OK) + (rows[i].get2 != BIP_OK);
		T_CHECK_INT(bip_fault_injected(e.fs), injected);
		T_CHECK_INT(bip_fault_seen(e.fs, BIP_FAULT_GET), 2);
		T_CHECK_INT(bip_fault_seen(e.fs, BIP_FAULT_TXN), 1);
		T_CHECK_INT(bip_fault_seen(e.fs, BIP_FAULT_LIST), 1);
		bip_fault_arm(e.fs, NULL);
		rc = bip_store_get(e.st, "k9", &kv);
		T_CHECK(rc == (rows[i].k9 ? BIP_OK : BIP_ENOTFOUND), "row %zu: k9 %s", i,
			bip_errname(rc));
		bip_kv_clear(&kv);
	}
	env_close(&e);
}

/* Batch reads through the wrapper: counted as one op each, failing whole, writing nothing. */
static void test_fault_read(void)
{
	static const struct {
		struct bip_fault_plan plan;
		/* the sequence read, read, get k1 */
		int read1, read2, get;
	} rows[] = {
	    {{BIP_FAULT_OFF, 1, BIP_EIO}, BIP_OK, BIP_OK, BIP_OK},
	    {{BIP_FAULT_FAIL, 1, BIP_EIO}, BIP_EIO, BIP_OK, BIP_OK},
	    {{BIP_FAULT_FAIL, 2, BIP_EAGAIN}, BIP_OK, BIP_EAGAIN, BIP_OK},
	    {{BIP_FAULT_FAIL, 1, BIP_EIO, BIP_FAULT_GET}, BIP_OK, BIP_OK, BIP_EIO},
	    {{BIP_FAULT_FAIL, 2, BIP_EIO, BIP_FAULT_READ, 2}, BIP_OK, BIP_EIO, BIP_OK},
	    {{BIP_FAULT_DOWN, 1, BIP_EAGAIN}, BIP_EAGAIN, BIP_EAGAIN, BIP_EAGAIN},
	    {{BIP_FAULT_CONFLICT, 1}, BIP_OK, BIP_OK, BIP_OK},
	    {{BIP_FAULT_LIST_HALF, 1, BIP_EIO}, BIP_OK, BIP_OK, BIP_OK},
	};
	const struct bip_read reads[] = {{"k1", false, 0}, {"k", true, 0}, {"nope", false, 0}};
	struct env e;

	T_REQUIRE(env_open(&e) == 0);
	for (int k = 1; k <= 3; k++) {
		char key[8];

		snprintf(key, sizeof(key), "k%d", k);
		T_REQUIRE(t_put(e.st, key, "v") == BIP_OK);
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int want[2] = {rows[i].read1, rows[i].read2};
		struct bip_kv kv = {0};
		int rc;

		bip_fault_arm(e.fs, &rows[i].plan);
		for (int r = 0; r < 2; r++) {
			struct bip_kvs out[3] = {{.n = 7}, {.n = 7}, {.n = 7}};
			int64_t rev = -1;

			rc = bip_store_read(e.fs, reads, 3, out, &rev);
			T_CHECK(rc == want[r], "row %zu read %d: %s", i, r + 1, bip_errname(rc));
			if (rc == BIP_OK)
				T_CHECK(out[0].n == 1 && out[1].n == 3 && out[2].n == 0 && rev > 0,
					"row %zu read %d: %zu %zu %zu entries", i, r + 1, out[0].n,
					out[1].n, out[2].n);
			else
				T_CHECK(out[0].n == 7 && out[2].n == 7 && rev == -1,
					"row %zu read %d: out written on failure", i, r + 1);
			for (int k = 0; rc == BIP_OK && k < 3; k++)
				bip_kvs_free(&out[k]);
		}
		rc = bip_store_get(e.fs, "k1", &kv);
		T_CHECK(rc == rows[i].get, "row %zu get: %s", i, bip_errname(rc));
		bip_kv_clear(&kv);
		T_CHECK_INT(bip_fault_seen(e.fs, BIP_FAULT_READ), 2);
		T_CHECK_INT(bip_fault_seen(e.fs, BIP_FAULT_GET), 1);
		T_CHECK_INT(bip_fault_injected(e.fs), (rows[i].read1 != BIP_OK) +
							  (rows[i].read2 != BIP_OK) +
							  (rows[i].get != BIP_OK));
		bip_fault_arm(e.fs, NULL);
	}
	env_close(&e);
}

/* --- lost races beyond the retry budget ----------------------------------------------------------
 */

/* A store that loses every race: each operation gives up with "try again" (or, where a lost
 * race means "someone else changed it, leave it", ends having done nothing), never returns
 * BIP_ECONFLICT, and leaves the store as it was. */
static void test_every_race_lost(void)
{
	struct bip_fault_plan plan = {BIP_FAULT_CONFLICT, 1, 0, 0, ULONG_MAX};

	for (size_t i = 0; i < NCASES; i++) {
		const struct fcase *c = &cases[i];
		struct bip_alloc_result r = {0};
		char *before, *after;
		struct env e;
		int rc;

		T_REQUIRE(env_open(&e) == 0);
		T_REQUIRE(c->setup(&e) == BIP_OK, "setup of '%s'", c->name);
		before = t_dump(e.st);
		bip_fault_arm(e.fs, &plan);
		rc = c->op(&e, &r);
		T_CHECK(rc == c->lost_rc, "%s: got %s (%s), want %s", c->name, bip_errname(rc),
			bip_ipam_errmsg(e.ip), bip_errname(c->lost_rc));
		bip_fault_arm(e.fs, NULL);
		after = t_dump(e.st);
		if (!(c->flags & BLIND))
			T_CHECK(strcmp(before, after) == 0, "%s: the store changed", c->name);
		bip_alloc_result_free(&r);
		free(before);
		free(after);
		env_close(&e);
	}
}

/* Pool delete past its retry budgets: a pool that cannot be disabled (its writes keep losing
 * races) is not touched, since allocations could still be claiming blocks in it; one whose
 * record cannot be deleted stays, disabled and released, and the caller hears "try again", not
 * the internal BIP_ECONFLICT. Its txns: disable, release two affinities, delete; each step has
 * the one retry budget (lib/txn.h). */
static void test_pool_delete_budgets(void)
{
	static const struct {
		unsigned long nth, repeat;
		bool unchanged;
	} rows[] = {
	    {1, BIP__RETRY_BUDGET, true},
	    {4, BIP__RETRY_BUDGET, false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_fault_plan plan = {BIP_FAULT_CONFLICT, rows[i].nth, 0, 0,
					      rows[i].repeat};
		struct bip_pool p = {0};
		char *before, *after;
		struct env e;
		int rc;

		T_REQUIRE(env_open(&e) == 0);
		T_REQUIRE(set_pool_delete(&e) == BIP_OK);
		before = t_dump(e.st);
		bip_fault_arm(e.fs, &plan);
		rc = bip_ipam_pool_delete(e.ip, "p");
		bip_fault_arm(e.fs, NULL);
		T_CHECK(rc == BIP_EAGAIN, "row %zu: got %s (%s)", i, bip_errname(rc),
			bip_ipam_errmsg(e.ip));
		after = t_dump(e.st);
		if (rows[i].unchanged)
			T_CHECK(strcmp(before, after) == 0, "row %zu: the store changed, from: %s",
				i, first_diff(after, before));
		T_CHECK(bip_ipam_pool_get(e.raw, "p", &p) == BIP_OK &&
			    p.disabled == !rows[i].unchanged,
			"row %zu: pool not as expected", i);
		bip_pool_clear(&p);
		free(before);
		free(after);
		env_close(&e);
	}
}

/* --- what a failure says ------------------------------------------------------------------- */

/*
 * Every store failure of an allocation and a release, for each code a store gives: the message
 * names the handle (and the key it was reading or writing) and ends with the store's own words
 * (here the fault store's "fault store: EINVAL injected at op 3"; etcd's name the endpoint and
 * the timeout: test_etcd_server_stopped). Before: a store's BIP_EINVAL ("too many operations in
 * txn request") lost them, a failed list of blocks/ said nothing at all, and "cannot list pools"
 * in a release did not say whose.
 */
static void test_fault_messages(void)
{
	static const int errs[] = {BIP_EIO, BIP_EAGAIN, BIP_ETIMEDOUT, BIP_EINVAL, BIP_EPERM};

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		for (int release = 0; release < 2; release++) {
			unsigned long nth = 1, fired = 1;
			struct env e;

			T_REQUIRE(env_open(&e) == 0);
			T_REQUIRE(dual_pools(&e) == BIP_OK);
			for (; fired && nth < 100; nth++) {
				struct bip_fault_plan plan = {BIP_FAULT_FAIL, nth, errs[i]};
				struct bip_alloc_req req = {
				    .handle = "h1", .node = "n1", .num4 = 1, .num6 = 1};
				struct bip_alloc_result res = {0};
				const char *m;
				char words[96];
				int rc;

				if (release && alloc_on(e.raw, "h1", "n1", 1, 1) != BIP_OK)
					break;
				bip_fault_arm(e.fs, &plan);
				rc = release ? bip_ipam_release_handle(e.ip, "h1")
					     : bip_ipam_allocate(e.ip, &req, &res);
				bip_alloc_result_free(&res);
				fired = bip_fault_injected(e.fs);
				bip_fault_arm(e.fs, NULL);
				if (!fired)
					break;
				m = bip_ipam_errmsg(e.ip);
				snprintf(words, sizeof(words),
					 ": fault store: %s injected at op %lu",
					 bip_errname(errs[i]), nth);
				T_CHECK(rc == errs[i], "%s, %s at op %lu: got %s",
					bip_errname(errs[i]), release ? "release" : "allocation",
					nth, bip_errname(rc));
				T_CHECK(strstr(m, words) &&
					    (strstr(m, "'h1'") || strstr(m, "handles/h1")) &&
					    !strstr(m, "''") && !strstr(m, "  "),
					"%s, %s at op %lu: '%s'", bip_errname(errs[i]),
					release ? "release" : "allocation", nth, m);
			}
			T_CHECK(!fired && nth > 2, "%s: the operation never completed",
				bip_errname(errs[i]));
			env_close(&e);
		}
}

/* --- a repair and a release racing ------------------------------------------------------------ */

struct race {
	struct env *e;
	struct bip_addr addr; /* by address when set, else the handle h1 */
	bool by_addr;
	int rc;
};

/* Another client's release, landing between two of the repair's store calls. */
static void race_release(void *ctx)
{
	struct race *r = ctx;

	r->rc = r->by_addr ? bip_ipam_release_addr(r->e->raw, r->addr, "h1")
			   : bip_ipam_release_handle(r->e->raw, "h1");
}

/* h1's record lost (a leak): the repair rebuilds it, an operator releases the address. */
static int set_leak(struct env *e)
{
	int rc = v4_pool(e);

	if (!rc)
		rc = alloc_on(e->raw, "h1", "n1", 1, 0);
	if (!rc)
		rc = alloc_on(e->raw, "h2", "n1", 1, 0);
	if (!rc)
		rc = first_addr(e, "h1");
	return rc ? rc : t_del(e->st, "handles/h1");
}

/* h1's record lists an address its block does not give it (the repair trims the record), and
 * the attachment is deleted (a DEL). */
static int set_stale(struct env *e)
{
	struct bip_kv kv = {0};
	char *v = NULL;
	int rc = v4_pool(e);

	if (!rc)
		rc = alloc_on(e->raw, "h1", "n1", 2, 0);
	if (!rc)
		rc = alloc_on(e->raw, "h2", "n1", 1, 0);
	if (!rc)
		rc = bip_store_get(e->st, "handles/h1", &kv);
	if (!rc && !(v = strndup((const char *)kv.value, kv.len)))
		rc = BIP_ENOMEM;
	if (!rc)
		rc = first_addr(e, "h1");
	if (!rc)
		rc = bip_ipam_release_addr(e->raw, e->addr, "h1");
	if (!rc)
		rc = t_put(e->st, "handles/h1", v); /* back to listing both */
	bip_kv_clear(&kv);
	free(v);
	return rc;
}

/*
 * `ipam check --repair` rebuilds or trims a handle record conditioned on the handle and the
 * blocks it judged: a release that lands between any two of its store calls (the fault store's
 * hook, before the 1st, 2nd, ... call, until the repair makes no more) either comes first (the
 * repair finds nothing to do) or makes the repair lose its compare; never a record left listing
 * what no block gives it. After each: the release worked, h1 holds nothing and has no record,
 * the holding rules hold and a check finds nothing.
 */
static void test_repair_races(void)
{
	static const struct {
		const char *name;
		int (*setup)(struct env *e);
		bool by_addr;
	} rows[] = {
	    {"rebuild vs release of its address", set_leak, true},
	    {"trim vs DEL", set_stale, false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned long nth = 1, fired = 1;

		for (; fired && nth < 200; nth++) {
			struct race r = {0};
			struct bip_fault_plan plan = {BIP_FAULT_BEFORE, nth};
			struct bip_check_report rep = {0};
			struct bip_handle_info h = {0};
			char why[256], *left;
			struct env e;
			int rc;

			T_REQUIRE(env_open(&e) == 0);
			T_REQUIRE(rows[i].setup(&e) == BIP_OK, "setup of '%s'", rows[i].name);
			r.e = &e;
			r.addr = e.addr;
			r.by_addr = rows[i].by_addr;
			plan.before = race_release;
			plan.ctx = &r;
			bip_fault_arm(e.fs, &plan);
			rc = bip_ipam_check(e.ip, true, &rep);
			fired = bip_fault_injected(e.fs);
			bip_fault_arm(e.fs, NULL);
			if (!fired) /* past the repair's last store call: the release after it */
				race_release(&r);
			T_CHECK(rc == BIP_OK, "%s, release before call %lu: check: %s (%s)",
				rows[i].name, nth, bip_errname(rc), bip_ipam_errmsg(e.ip));
			T_CHECK(r.rc == BIP_OK, "%s, release before call %lu: %s (%s)",
				rows[i].name, nth, bip_errname(r.rc), bip_ipam_errmsg(e.raw));
			rc = bip_ipam_handle_get(e.raw, "h1", &h);
			T_CHECK(rc == BIP_ENOTFOUND,
				"%s, release before call %lu: h1 has a record "
				"(%zu addresses)",
				rows[i].name, nth, h.naddrs);
			T_CHECK(raw_holding(e.st, true, why, sizeof(why)) == 0,
				"%s, release before call %lu: %s", rows[i].name, nth, why);
			left = problems(&e);
			T_CHECK(!*left, "%s, release before call %lu: the check finds:\n%s",
				rows[i].name, nth, left);
			free(left);
			bip_handle_info_clear(&h);
			bip_check_report_free(&rep);
			env_close(&e);
		}
		T_CHECK(!fired && nth > 4, "%s: %lu store calls", rows[i].name, nth - 1);
	}
}

/* One test per case, so that one can be run alone: test_faults faults_3 */
#define C(i)                                                                                       \
	{                                                                                          \
		"faults_" #i, test_case, &cases[i]                                                 \
	}
_Static_assert(NCASES == 22, "a case without its test below");
T_MAIN(T(test_fault_store), T(test_fault_read), T(test_every_race_lost),
       T(test_pool_delete_budgets), T(test_fault_messages), T(test_repair_races), C(0), C(1), C(2),
       C(3), C(4), C(5), C(6), C(7), C(8), C(9), C(10), C(11), C(12), C(13), C(14), C(15), C(16),
       C(17), C(18), C(19), C(20), C(21))
