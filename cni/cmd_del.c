/*
 * DEL: release everything the handle holds. Nothing held is success (the spec: DEL may repeat,
 * and runs after a failed ADD). A handle that is another attachment's (handle.c) is left alone:
 * the DEL that follows a refused ADD must not free the other pod's addresses. A store that
 * cannot be reached is code 11, so that the runtime tries again instead of forgetting the
 * addresses.
 */
#include "cni.h"

/* Whether the handle is absent or another attachment's (then there is nothing to release). */
static int not_ours(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, bool *skip,
		    struct bip_cni_err *e)
{
	struct bip_handle_info h = {0};
	int rc = bip_ipam_handle_get(ipam, ctx->handle, &h);

	*skip = rc == BIP_ENOTFOUND || (rc == BIP_OK && !bip_cni_handle_ours(ctx, &h));
	bip_handle_info_clear(&h);
	if (rc == BIP_OK || rc == BIP_ENOTFOUND)
		return 0;
	return bip_cni_errf(e, rc == BIP_EIO ? BIP_CNI_ETRYLATER : bip_cni_code(rc),
			    "reading handle '%s': %s", ctx->handle,
			    *bip_ipam_errmsg(ipam) ? bip_ipam_errmsg(ipam) : bip_strerror(rc));
}

int bip_cni_cmd_del(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	bool skip = false;
	int rc;

	if (bip_cni_handle_ambiguous(ctx) && ((rc = not_ours(ctx, ipam, &skip, e)) || skip))
		return rc;
	rc = bip_ipam_release_handle(ipam, ctx->handle);
	if (rc == BIP_OK || rc == BIP_ENOTFOUND)
		return 0;
	if (rc == BIP_EIO)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "releasing '%s': %s", ctx->handle,
				    *bip_ipam_errmsg(ipam) ? bip_ipam_errmsg(ipam)
							   : bip_strerror(rc));
	return bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "release failed");
}
