/*
 * Routes: why blocks exist. A node advertises one route per block it owns instead of one per
 * pod; an address held by a node other than its block's owner (borrowed, or in a block whose
 * owner left) needs a host route of its own, which wins over the block's by being longer. On the
 * owner itself, each block is a blackhole aggregate, so traffic to a free address in it is
 * dropped there instead of leaking back out through a default route.
 *
 * Output is sorted, so two runs over the same store print the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct rctx {
	struct bip_ipam *ip;
	const char *for_node;
	struct bip_routes *out;
	size_t cap;
	struct bip_node *nodes;
	size_t nnodes;
};

static const char *intern(struct rctx *c, const char *name)
{
	struct bip_routes *r = c->out;
	char **v;

	for (size_t i = r->nnames; i-- > 0;)
		if (strcmp(r->names[i], name) == 0)
			return r->names[i];
	v = bip__im_realloc(c->ip, r->names, (r->nnames + 1) * sizeof(*v));
	if (!v)
		return NULL;
	r->names = v;
	r->names[r->nnames] = bip__im_strdup(c->ip, name);
	if (!r->names[r->nnames])
		return NULL;
	return r->names[r->nnames++];
}

static struct bip_addr node_addr(const struct rctx *c, const char *node, int family)
{
	struct bip_addr none = {0};

	for (size_t i = 0; i < c->nnodes; i++) {
		if (strcmp(c->nodes[i].name, node) != 0)
			continue;
		for (size_t k = 0; k < c->nodes[i].naddrs; k++)
			if (c->nodes[i].addrs[k].family == family)
				return c->nodes[i].addrs[k];
	}
	return none;
}

static int add_route(struct rctx *c, enum bip_route_kind kind, struct bip_prefix dst,
		     const char *node)
{
	struct bip_routes *r = c->out;
	const char *n = intern(c, node);

	if (!n)
		return BIP_ENOMEM;
	if (r->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct bip_route *v = bip__im_realloc(c->ip, r->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		r->v = v;
		c->cap = cap;
	}
	r->v[r->n++] = (struct bip_route){kind, dst, n, node_addr(c, node, dst.addr.family)};
	return BIP_OK;
}

static int on_block(void *ctx, const struct bip_kv *kv)
{
	struct rctx *c = ctx;
	struct blk *b = NULL;
	int rc = bip__blk_decode(c->ip, kv->key, kv->value, kv->len, kv->rev, &b);

	if (rc == BIP_ENOMEM)
		return rc;
	if (rc != BIP_OK)
		return 0; /* the check reports it */
	if (b->node) {
		bool mine = c->for_node && strcmp(b->node, c->for_node) == 0;

		rc = add_route(c, mine ? BIP_ROUTE_BLACKHOLE : BIP_ROUTE_BLOCK, b->cidr, b->node);
	}
	for (uint32_t o = 0; rc == BIP_OK && o < b->size; o++) {
		const char *holder;
		struct bip_prefix host;

		if (!b->handle[o])
			continue;
		c->out->pods++;
		holder = b->holder[o];
		if (!holder)
			continue; /* held by the block's own node: covered by the block route */
		/* A node reaches its own pods through their veth routes, not these. */
		if (c->for_node && strcmp(holder, c->for_node) == 0)
			continue;
		host.addr = bip_prefix_nth(b->cidr, o);
		host.len = (uint8_t)bip_addr_bits(host.addr);
		rc = add_route(c, BIP_ROUTE_HOST, host, holder);
	}
	bip__blk_free(b);
	return rc;
}

static int cmp_route(const void *x, const void *y)
{
	const struct bip_route *a = x, *b = y;
	int k = strcmp(a->node, b->node);

	if (k)
		return k;
	if (a->kind != b->kind)
		return a->kind == BIP_ROUTE_BLACKHOLE	? -1
		       : b->kind == BIP_ROUTE_BLACKHOLE ? 1
		       : a->kind < b->kind		? -1
							: 1;
	return bip_prefix_cmp(a->dst, b->dst);
}

int bip_ipam_routes(struct bip_ipam *ip, const char *for_node, struct bip_routes *out)
{
	struct bip_routes r = {0};
	struct rctx c = {.ip = ip, .for_node = for_node, .out = &r};
	int64_t rev;
	int rc;

	ip->errmsg[0] = '\0';
	if (for_node && !bip__valid_name(for_node))
		return bip__seterr(ip, BIP_EINVAL, "invalid node name '%s'", for_node);
	rc = bip_ipam_node_list(ip, &c.nodes, &c.nnodes);
	if (rc == BIP_OK) {
		rc = bip_store_list_cb(ip->store, PFX_BLOCKS, 0, on_block, &c, &rev);
		if (rc != BIP_OK && rc != BIP_ENOMEM)
			bip__store_fail(ip, rc, "cannot list blocks");
	}
	bip_nodes_free(c.nodes, c.nnodes);
	if (rc != BIP_OK) {
		bip_routes_free(&r);
		return rc;
	}
	if (r.n)
		qsort(r.v, r.n, sizeof(*r.v), cmp_route);
	r.nodes = r.nnames;
	*out = r;
	return BIP_OK;
}

void bip_routes_free(struct bip_routes *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nnames; i++)
		free(r->names[i]);
	free(r->names);
	free(r->v);
	memset(r, 0, sizeof(*r));
}
