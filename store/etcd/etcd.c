/*
 * The etcd v3 backend. Not built yet (a later issue): opening an etcd:// address says so.
 */
#include <stdio.h>

#include "blockipam/err.h"
#include "blockipam/store.h"

int bip_etcd_open(const char *endpoints, bool tls, const struct bip_store_opts *opts,
		  struct bip_store **out, char *err, size_t errlen)
{
	(void)opts;
	(void)out;
	if (err && errlen)
		snprintf(err, errlen, "store address '%s://%s': the etcd backend is not built yet",
			 tls ? "etcds" : "etcd", endpoints);
	return BIP_EUNSUPPORTED;
}
