/*
 * Pool selection: for one family, the candidate pools, most specific level first (specific
 * addresses > explicit pools > namespace pools > configured pools > automatic pools whose
 * nodeSelector and namespaceSelector match).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_int.h"

static int pool_ref(const struct attempt *a, const char *ref)
{
	struct bip_prefix p;
	bool is_cidr = bip_prefix_parse_net(ref, &p) == BIP_OK;

	for (size_t i = 0; i < a->rec.npools; i++) {
		if (strcmp(a->rec.pools[i].name, ref) == 0)
			return (int)i;
		if (is_cidr && bip_prefix_eq(a->rec.pools[i].cidr, p))
			return (int)i;
	}
	return -1;
}

const char *bip__use_name(enum bip_use u)
{
	return u == BIP_USE_TUNNEL	   ? "Tunnel"
	       : u == BIP_USE_LOADBALANCER ? "LoadBalancer"
					   : "Workload";
}

/* "Workload, Tunnel": the uses a pool allows, as manifests spell them. */
const char *bip__uses_fmt(unsigned uses, char *buf, size_t len)
{
	static const enum bip_use all[] = {BIP_USE_WORKLOAD, BIP_USE_TUNNEL, BIP_USE_LOADBALANCER};
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if ((uses & all[i]) && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "",
					       bip__use_name(all[i]));
	if (!buf[0])
		snprintf(buf, len, "none");
	return buf;
}

/* Pools named at one level: those of family fam, in the order given. */
static int named_pools(struct attempt *a, int fam, const char *const *refs, size_t nrefs,
		       const char *level, size_t *idx, size_t *n)
{
	enum bip_use use = a->req->use ? a->req->use : BIP_USE_WORKLOAD;

	*n = 0;
	for (size_t r = 0; r < nrefs; r++) {
		int i = pool_ref(a, refs[r]);
		const struct bip_pool *p;

		if (i < 0)
			return bip__seterr(a->ip, BIP_ENOPOOL, "pool '%s' (from %s) does not exist",
					   refs[r], level);
		p = &a->rec.pools[i];
		if (p->cidr.addr.family != fam)
			continue;
		if (p->disabled)
			return bip__seterr(a->ip, BIP_EDISABLED, "pool '%s' (from %s) is disabled",
					   p->name, level);
		if (!(p->allowed_uses & use)) {
			char uses[64];

			return bip__seterr(
			    a->ip, BIP_ENOPOOL,
			    "pool '%s' (from %s) does not allow use %s (allowedUses: %s)", p->name,
			    level, bip__use_name(use),
			    bip__uses_fmt(p->allowed_uses, uses, sizeof(uses)));
		}
		idx[(*n)++] = (size_t)i;
	}
	return BIP_OK;
}

bool bip__selector_matches(const char *text, const struct bip_label_set *ls)
{
	struct bip_selector *sel;
	bool m;

	if (!text || !*text)
		return true;
	if (bip_selector_parse(text, &sel, NULL, 0) != BIP_OK)
		return false; /* validated on write: a bad one in the store selects nothing */
	m = bip_selector_match(sel, ls->v, ls->n);
	bip_selector_free(sel);
	return m;
}

/* The automatic level's test of one pool, given the labels with their implicit name labels
 * (ns_labels NULL: the namespace is not judged). */
static bool auto_selected(const struct bip_pool *p, enum bip_use use,
			  const struct bip_label_set *node_labels,
			  const struct bip_label_set *ns_labels)
{
	if (p->disabled || p->mode != BIP_ASSIGN_AUTOMATIC || !(p->allowed_uses & use))
		return false;
	return bip__selector_matches(p->node_selector, node_labels) &&
	       (!ns_labels || bip__selector_matches(p->ns_selector, ns_labels));
}

int bip_ipam_pool_selects(struct bip_ipam *ip, const struct bip_pool *p, enum bip_use use,
			  const char *node, const struct bip_label_set *node_labels, const char *ns,
			  const struct bip_label_set *ns_labels, bool *out)
{
	struct bip_label_set nl = {0}, nsl = {0};
	int rc;

	ip->errmsg[0] = '\0';
	rc = bip__labels_with_name(ip, node_labels, "kubernetes.io/hostname", node, &nl);
	if (rc == BIP_OK && ns)
		rc = bip__labels_with_name(ip, ns_labels, "kubernetes.io/metadata.name", ns, &nsl);
	if (rc == BIP_OK) {
		struct bip_pool q = *p;

		/* as stored: 0 allowed uses is the default (Workload and Tunnel) */
		if (!q.allowed_uses)
			q.allowed_uses = BIP_USE_WORKLOAD | BIP_USE_TUNNEL;
		*out = q.cidr.addr.family &&
		       auto_selected(&q, use ? use : BIP_USE_WORKLOAD, &nl, ns ? &nsl : NULL);
	}
	bip__label_set_clear(&nl);
	bip__label_set_clear(&nsl);
	return rc;
}

/* Candidate pools for one family, most specific level first; idx has room for npools. */
int bip__candidate_pools(struct attempt *a, int fam, size_t *idx, size_t *n)
{
	const struct bip_alloc_req *req = a->req;
	enum bip_use use = req->use ? req->use : BIP_USE_WORKLOAD;
	int rc;

	rc = named_pools(a, fam, req->pools, req->npools, "the pod's pool annotation", idx, n);
	if (rc != BIP_OK || *n)
		return rc;
	if (a->rec.have_ns) {
		rc = named_pools(a, fam, (const char *const *)a->rec.ns.pools, a->rec.ns.npools,
				 "the namespace's pools", idx, n);
		if (rc != BIP_OK || *n)
			return rc;
	}
	rc = named_pools(a, fam, req->cfg_pools, req->ncfg_pools, "the network config", idx, n);
	if (rc != BIP_OK || *n)
		return rc;
	if (!a->rec.node_labels.v) {
		rc =
		    bip__labels_with_name(a->ip, a->rec.have_node ? &a->rec.node.labels : NULL,
					  "kubernetes.io/hostname", req->node, &a->rec.node_labels);
		if (rc != BIP_OK)
			return rc;
		rc = bip__labels_with_name(a->ip, a->rec.have_ns ? &a->rec.ns.labels : NULL,
					   "kubernetes.io/metadata.name", req->namespace,
					   &a->rec.ns_labels);
		if (rc != BIP_OK)
			return rc;
	}
	for (size_t i = 0; i < a->rec.npools; i++) {
		const struct bip_pool *p = &a->rec.pools[i];

		if (p->cidr.addr.family == fam &&
		    auto_selected(p, use, &a->rec.node_labels, &a->rec.ns_labels))
			idx[(*n)++] = i;
	}
	if (*n == 0) {
		size_t nfam = 0, off = 0, manual = 0, uses = 0;

		for (size_t i = 0; i < a->rec.npools; i++) {
			const struct bip_pool *p = &a->rec.pools[i];

			if (p->cidr.addr.family != fam)
				continue;
			nfam++;
			if (p->disabled)
				off++;
			else if (p->mode != BIP_ASSIGN_AUTOMATIC)
				manual++;
			else if (!(p->allowed_uses & use))
				uses++;
		}
		if (!nfam)
			return bip__seterr(a->ip, BIP_ENOPOOL, "no IPv%d pool exists: %s", fam,
					   fam == 4 ? BIP_NO_POOL_HINT4 : BIP_NO_POOL_HINT6);
		return bip__seterr(
		    a->ip, BIP_ENOPOOL,
		    "no IPv%d pool selects node '%s'%s%s: of %zu IPv%d pool%s, %zu %s "
		    "disabled, %zu Manual (used only when named), %zu without use %s, "
		    "%zu with a nodeSelector or namespaceSelector that does not match",
		    fam, req->node, req->namespace ? " in namespace " : "",
		    req->namespace ? req->namespace : "", nfam, fam, nfam == 1 ? "" : "s", off,
		    off == 1 ? "is" : "are", manual, uses, bip__use_name(use),
		    nfam - off - manual - uses);
	}
	return BIP_OK;
}
