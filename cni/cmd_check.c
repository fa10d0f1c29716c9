/*
 * CHECK: every address in prevResult must still be held by this attachment's handle. The
 * error names the first address that is not, and who holds it instead (code 106), or that
 * nobody does (code 110). Success prints nothing.
 */
#include <stdio.h>

#include "cni.h"

static int not_held(struct bip_ipam *ipam, const char *handle, struct bip_addr a,
		    struct bip_cni_err *e)
{
	struct bip_addr_info ai = {0};
	char buf[BIP_ADDR_STRLEN];
	int rc = bip_ipam_addr_info(ipam, a, &ai);

	bip_addr_fmt(a, buf);
	if (rc == BIP_ENOTFOUND)
		return bip_cni_errf(e, BIP_CNI_ENOTHELD,
				    "address %s from prevResult is not allocated (handle '%s')",
				    buf, handle);
	if (rc != BIP_OK)
		return bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "looking up an address");
	rc = bip_cni_errf(e, BIP_CNI_EOWNER,
			  "address %s from prevResult is held by handle '%s', not by '%s'", buf,
			  ai.holder.id ? ai.holder.id : "?", handle);
	bip_addr_info_clear(&ai);
	return rc;
}

int bip_cni_cmd_check(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	const struct bip_cni_conf *c = ctx->conf;
	struct bip_handle_info h = {0};
	int rc = bip_ipam_handle_get(ipam, ctx->handle, &h);

	if (rc == BIP_ENOTFOUND) {
		if (!c->nprev_ips)
			return 0;
		return not_held(ipam, ctx->handle, c->prev_ips[0].addr, e);
	}
	if (rc != BIP_OK)
		return bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "reading the handle");
	if (!bip_cni_handle_ours(ctx, &h))
		rc = bip_cni_handle_foreign(ctx, &h, e);
	for (size_t i = 0; i < c->nprev_ips && !rc; i++) {
		bool held = false;

		for (size_t k = 0; k < h.naddrs && !held; k++)
			held = bip_addr_eq(h.addrs[k].addr, c->prev_ips[i].addr);
		if (!held)
			rc = not_held(ipam, ctx->handle, c->prev_ips[i].addr, e);
	}
	bip_handle_info_clear(&h);
	return rc;
}
