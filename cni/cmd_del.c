/*
 * DEL: release everything the handle holds. Nothing held is success (the spec: DEL may repeat,
 * and runs after a failed ADD). A store that cannot be reached is code 11, so that the runtime
 * tries again instead of forgetting the addresses.
 */
#include "cni.h"

int bip_cni_cmd_del(const struct bip_cni_ctx *ctx, struct bip_ipam *ipam, struct bip_cni_err *e)
{
	int rc = bip_ipam_release_handle(ipam, ctx->handle);

	if (rc == BIP_OK || rc == BIP_ENOTFOUND)
		return 0;
	if (rc == BIP_EIO)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "releasing '%s': %s", ctx->handle,
				    *bip_ipam_errmsg(ipam) ? bip_ipam_errmsg(ipam) : bip_strerror(rc));
	return bip_cni_err_lib(e, rc, bip_ipam_errmsg(ipam), "release failed");
}
