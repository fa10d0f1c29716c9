/*
 * ADD: allocate for the handle "<network>.<containerID>.<ifname>" and print the result. A repeat
 * for the same handle returns what it holds (the engine is idempotent per handle), after
 * checking that the handle really is this attachment's (handle.c): handing one pod's address
 * to another would be far worse than failing.
 *
 * Counts: block mode asks one address per enabled family (assign_ipv4/assign_ipv6); host-local
 * mode one per range set. Specific addresses, when requested, are exactly what is asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "cni.h"

int bip_cni_report_len(enum bip_cni_prefix_mode mode, const struct bip_assigned *a,
		       const struct bip_pool *pools, size_t npools)
{
	switch (mode) {
	case BIP_CNI_PREFIX_HOST:
		return (int)bip_addr_bits(a->addr);
	case BIP_CNI_PREFIX_POOL:
		for (size_t i = 0; i < npools; i++)
			if (bip_prefix_contains(pools[i].cidr, a->addr))
				return pools[i].cidr.len;
		break; /* host-local ranges are not in a pool */
	case BIP_CNI_PREFIX_BLOCK:
		break;
	}
	/* host-local: the range's subnet, not the sub-block a large range is kept in */
	return a->range.addr.family ? a->range.len : a->block.len;
}

static struct bip_addr gateway_of(const struct bip_cni_conf *c, const struct bip_assigned *a)
{
	struct bip_range pod;

	if (!c->host_local)
		return a->addr.family == 4 ? c->gateway4 : c->gateway6;
	if (c->nranges && a->range_index >= 0 && (size_t)a->range_index < c->nranges)
		return c->ranges[a->range_index].gateway;
	/* the node's pod CIDR: the engine's range over it (host-local's default, network+1) */
	bip_pod_cidr_range(a->range.addr.family ? a->range : a->block, 0, &pod);
	return pod.gateway;
}

/* The handle's recorded attachment must be ours (handle.c). */
static int check_owner(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	struct bip_handle_info h = {0};
	int rc = bip_ipam_handle_get(ipam, ctx->handle, &h);

	if (rc != BIP_OK)
		return bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "reading the handle");
	if (!bip_cni_handle_ours(ctx, &h))
		rc = bip_cni_handle_foreign(ctx, &h, e);
	bip_handle_info_clear(&h);
	return rc;
}

/* usePodCidr: the engine falls back to pools when a node has no pod CIDR; the config forbids. */
static int need_pod_cidrs(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam,
			  struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	struct bip_node node = {0};
	int rc = bip_ipam_node_get(ipam, ctx->node, &node);

	if (rc != BIP_OK && rc != BIP_ENOTFOUND)
		return bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "reading the node");
	rc = 0;
	for (int f = 4; f <= 6 && !rc; f += 2)
		if ((f == 4 ? c->use_pod_cidr4 : c->use_pod_cidr6) &&
		    !bip_cni_pod_cidr_of(&node, f))
			rc = bip_cni_errf(
			    e, BIP_CNI_ENOPOOL,
			    "node '%s' has no IPv%d pod CIDR (ipam subnet usePodCidr%s)", ctx->node,
			    f, f == 4 ? "" : "IPv6");
	bip_node_clear(&node);
	return rc;
}

/* How many addresses of each family: the specific ones asked, else one per range set
 * (host-local), else one per enabled family. */
static void count_wanted(const struct bip_cni_conf *c, struct bip_alloc_req *req)
{
	if (c->nips) {
		for (size_t i = 0; i < c->nips; i++) {
			if (c->ips[i].family == 4)
				req->num4++;
			else
				req->num6++;
		}
	} else if (c->host_local) {
		req->num4 = c->nsets4 + c->use_pod_cidr4;
		req->num6 = c->nsets6 + c->use_pod_cidr6;
	} else {
		req->num4 = c->assign4;
		req->num6 = c->assign6;
	}
}

/* The allocation, with what a failure means for the model, and the owner of a repeat. */
static int allocate(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam,
		    const struct bip_alloc_req *req, struct bip_alloc_result *res,
		    struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	int rc;

	if (c->use_pod_cidr4 || c->use_pod_cidr6) {
		rc = need_pod_cidrs(ctx, ipam, e);
		if (rc)
			return rc;
	}
	rc = bip_ipam_allocate(ipam, req, res);
	if (rc != BIP_OK) {
		int lib = rc;

		rc = bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "allocation failed");
		if (lib == BIP_EBLOCKLIMIT && c->model == BIP_CNI_MODEL_BRIDGE &&
		    strstr(e->msg, "as its subnet"))
			bip_cni_err_details(
			    e,
			    "the bridge plugin takes one IPv4 subnet per bridge, "
			    "so this node's pods on network '%s' share one block: "
			    "use a pool with a larger blockSize (24 holds 253 pods), "
			    "or host-local mode (a pod CIDR per node)",
			    c->name);
		return rc;
	}
	if (res->existing)
		return check_owner(ctx, ipam, e);
	return 0;
}

/* The result's addresses: the reported length and gateway of each (NULL: out of memory). */
static struct bip_cni_ip *result_ips(const struct bip_cni_conf *c,
				     const struct bip_alloc_result *res,
				     const struct bip_pool *pools, size_t npools)
{
	struct bip_cni_ip *ips = calloc(res->n + 1, sizeof(*ips));

	for (size_t i = 0; ips && i < res->n; i++) {
		ips[i].address.addr = res->v[i].addr;
		ips[i].address.len =
		    (uint8_t)bip_cni_report_len(c->prefix_mode, &res->v[i], pools, npools);
		ips[i].gateway = gateway_of(c, &res->v[i]);
		/* The main plugin's subnet (model): its length and its gateway. */
		if (res->v[i].subnet.addr.family) {
			ips[i].address.len = res->v[i].subnet.len;
			ips[i].gateway = res->v[i].gateway;
		}
	}
	return ips;
}

/* The configured routes the result carries (NULL: out of memory). */
static struct bip_cni_route *result_routes(const struct bip_cni_conf *c, size_t *n)
{
	struct bip_cni_route *routes = calloc(c->nroutes + 1, sizeof(*routes));

	*n = 0;
	for (size_t i = 0; routes && i < c->nroutes; i++) {
		const struct bip_cni_route *r = &c->routes[i];

		/* bridge with isDefaultGateway adds the default route via the gateway itself;
		 * the same route from IPAM would make it fail ("file exists"). */
		if (c->model == BIP_CNI_MODEL_BRIDGE && c->default_gw && !c->host_local &&
		    r->dst.len == 0 && !r->gw.family)
			continue;
		routes[(*n)++] = *r;
	}
	return routes;
}

/* Print the result of an allocation in the configuration's spec version. */
static int report(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam,
		  const struct bip_alloc_req *req, const struct bip_alloc_result *res,
		  struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	struct bip_pool *pools = NULL;
	size_t npools = 0, nroutes = 0;
	struct bip_cni_ip *ips = NULL;
	struct bip_cni_route *routes = NULL;
	char *json = NULL;
	int rc;

	if (c->prefix_mode == BIP_CNI_PREFIX_POOL && !req->subnet[0].kind &&
	    (rc = bip_ipam_pool_list(ipam, &pools, &npools)) != BIP_OK) {
		rc = bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "listing pools");
		goto out;
	}
	ips = result_ips(c, res, pools, npools);
	routes = ips ? result_routes(c, &nroutes) : NULL;
	if (routes)
		json = bip_cni_result_json(
		    &(struct bip_cni_result){ips, res->n, routes, nroutes, &c->dns}, c->version);
	if (!json) {
		rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
		goto out;
	}
	if (fputs(json, ctx->out) == EOF || fflush(ctx->out) == EOF) {
		rc = bip_cni_errf(e, BIP_CNI_EIO, "cannot write the result to stdout");
		goto out;
	}
	rc = 0;
out:
	free(json);
	free(routes);
	free(ips);
	bip_pools_free(pools, npools);
	return rc;
}

int bip_cni_cmd_add(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	const struct bip_cni_env *env = ctx->env;
	struct bip_alloc_req req = {
	    .handle = ctx->handle,
	    .node = ctx->node,
	    .namespace = env->args.k8s_namespace,
	    .attrs = {env->args.k8s_namespace, env->args.k8s_pod, env->container_id, env->ifname,
		      env->args.k8s_uid},
	    .use = BIP_USE_WORKLOAD,
	    .ips = c->ips,
	    .nips = c->nips,
	    .pools = c->ann_pools,
	    .npools = c->nann_pools,
	    .cfg_pools = c->pools,
	    .ncfg_pools = c->npools4 + c->npools6,
	    .ranges = c->ranges,
	    .nranges = c->nranges,
	};
	struct bip_alloc_result res = {0};
	int rc;

	count_wanted(c, &req);
	bip_cni_subnet_rules(c, req.subnet);
	rc = allocate(ctx, ipam, &req, &res, e);
	if (!rc)
		rc = report(ctx, ipam, &req, &res, e);
	bip_alloc_result_free(&res);
	return rc;
}
