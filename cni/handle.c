/*
 * Handle ids: "<network>.<containerID>.<ifname>", the owner of an attachment's addresses.
 *
 * The dots make the id ambiguous when the network name or the container id has dots of its own:
 * network "a.b" + container "c" and network "a" + container "b.c" spell the same id. Both are
 * legal, so the plugin checks the container and interface recorded with the handle before it
 * acts on someone else's: ADD refuses to return another attachment's addresses, DEL does not
 * release them, CHECK does not count them. When neither the network name nor the container id
 * has a dot the id parses one way only and no check (no extra store read) is needed.
 */
#include <stdio.h>
#include <string.h>

#include "cni.h"

void bip_cni_handle_id(char *buf, size_t n, const char *network, const char *container,
		       const char *ifname)
{
	snprintf(buf, n, "%s.%s.%s", network, container, ifname);
}

bool bip_cni_handle_ambiguous(const struct bip_cni_ctx *ctx)
{
	return strchr(ctx->conf->name, '.') || strchr(ctx->env->container_id, '.');
}

bool bip_cni_handle_ours(const struct bip_cni_ctx *ctx, const struct bip_handle_info *h)
{
	return (!h->container || strcmp(h->container, ctx->env->container_id) == 0) &&
	       (!h->ifname || strcmp(h->ifname, ctx->env->ifname) == 0);
}

int bip_cni_handle_foreign(const struct bip_cni_ctx *ctx, const struct bip_handle_info *h,
			   struct bip_cni_err *e)
{
	return bip_cni_errf(
	    e, BIP_CNI_EOWNER,
	    "handle '%s' belongs to container '%s' interface '%s', not to container "
	    "'%s' interface '%s'",
	    ctx->handle, h->container ? h->container : "", h->ifname ? h->ifname : "",
	    ctx->env->container_id, ctx->env->ifname);
}
