/*
 * GC (spec 1.1.0): release every handle of this network, made on this node, whose attachment is
 * not in cni.dev/valid-attachments (or cni.dev/attachments). The runtime's list names only the
 * attachments of its own node: on a store that several nodes share, every other node's handles
 * are missing from it and are alive all the same, so a handle recorded on another node (or on
 * none) is never touched. A handle is this network's only when its id is exactly
 * "<network>.<container>.<ifname>" built from its own recorded container and interface: the
 * prefix "<network>." alone would also match network "<network>.x". Handles without those
 * attributes were not made by the plugin and are never touched.
 *
 * The candidates are collected first and released after the walk (no change under an open
 * iteration). A failure does not stop the others (the spec: keep going, report errors); the
 * first failure's code is returned with the count and the handles in the details.
 */
#include <stdlib.h>
#include <string.h>

#include "cni.h"

struct gc {
	const struct bip_cni_conf *conf;
	const char *node;
	char prefix[BIP_CNI_NAME_MAX + 2];
	char **stale;
	size_t n, cap;
	int oom;
};

static bool ours(const struct gc *g, const struct bip_handle_info *h)
{
	size_t p = strlen(g->prefix), c;

	if (!h->node || strcmp(h->node, g->node) != 0)
		return false;
	if (!h->container || !h->ifname || strncmp(h->id, g->prefix, p) != 0)
		return false;
	c = strlen(h->container);
	return strncmp(h->id + p, h->container, c) == 0 && h->id[p + c] == '.' &&
	       strcmp(h->id + p + c + 1, h->ifname) == 0;
}

static bool valid(const struct bip_cni_conf *c, const struct bip_handle_info *h)
{
	for (size_t i = 0; i < c->nvalid; i++)
		if (strcmp(c->valid[i].container_id, h->container) == 0 &&
		    strcmp(c->valid[i].ifname, h->ifname) == 0)
			return true;
	return false;
}

static int collect(void *ctx, const struct bip_handle_info *h)
{
	struct gc *g = ctx;

	if (!ours(g, h) || valid(g->conf, h))
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		char **v = realloc(g->stale, cap * sizeof(*v));

		if (!v)
			goto oom;
		g->stale = v;
		g->cap = cap;
	}
	g->stale[g->n] = strdup(h->id);
	if (!g->stale[g->n])
		goto oom;
	g->n++;
	return 0;
oom:
	g->oom = 1;
	return BIP_ENOMEM;
}

int bip_cni_cmd_gc(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	struct gc g = {.conf = ctx->conf, .node = ctx->node};
	size_t failed = 0, off = 0;
	int rc, first = BIP_OK;

	snprintf(g.prefix, sizeof(g.prefix), "%s.", ctx->conf->name);
	rc = bip_ipam_handle_foreach(ipam, g.prefix, collect, &g);
	if (rc != BIP_OK) {
		rc = g.oom ? bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory")
			   : bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "listing handles");
		goto out;
	}
	for (size_t i = 0; i < g.n; i++) {
		int r = bip_ipam_release_handle(ipam, g.stale[i]);

		if (r == BIP_OK || r == BIP_ENOTFOUND)
			continue;
		if (!failed++)
			first = r;
		if (off < sizeof(e->details))
			off += (size_t)snprintf(e->details + off, sizeof(e->details) - off,
						"%s%s: %s", off ? "; " : "", g.stale[i],
						*bip_ipam_errmsg(ipam) ? bip_ipam_errmsg(ipam)
								       : bip_strerror(r));
	}
	rc = 0;
	if (failed) {
		unsigned code = bip_cni_code(first);

		rc = bip_cni_errf(
		    e, code ? code : BIP_CNI_EINTERNAL,
		    "GC of network '%s': %zu of %zu stale handles could not be released",
		    ctx->conf->name, failed, g.n);
	}
out:
	for (size_t i = 0; i < g.n; i++)
		free(g.stale[i]);
	free(g.stale);
	return rc;
}
