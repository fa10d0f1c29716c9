/*
 * Test helper: create (or replace) a pool through the library, until the CLI exists.
 *
 *   helper_mkpool STORE NAME CIDR [BLOCKLEN] [disabled]
 *
 * Exit 0 on success; 1 with a message on stderr otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/ipam.h"

int main(int argc, char **argv)
{
	struct bip_pool pool = {0};
	struct bip_store *store = NULL;
	struct bip_ipam *ipam = NULL;
	char err[256] = "";
	int ret = 1, rc;

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: %s STORE NAME CIDR [BLOCKLEN] [disabled]\n", argv[0]);
		return 1;
	}
	pool.name = argv[2];
	if (bip_prefix_parse_net(argv[3], &pool.cidr) != BIP_OK) {
		fprintf(stderr, "invalid CIDR '%s'\n", argv[3]);
		return 1;
	}
	if (argc >= 5)
		pool.block_len = (unsigned)atoi(argv[4]);
	pool.disabled = argc == 6 && strcmp(argv[5], "disabled") == 0;
	rc = bip_store_open(argv[1], NULL, &store, err, sizeof(err));
	if (rc != BIP_OK) {
		fprintf(stderr, "open %s: %s (%s)\n", argv[1], err, bip_errname(rc));
		return 1;
	}
	rc = bip_ipam_new(store, &ipam);
	if (rc == BIP_OK)
		rc = bip_ipam_pool_put(ipam, &pool, false);
	if (rc != BIP_OK) {
		fprintf(stderr, "pool %s: %s (%s)\n", argv[2], ipam ? bip_ipam_errmsg(ipam) : "",
			bip_errname(rc));
		goto out;
	}
	ret = 0;
out:
	bip_ipam_free(ipam);
	bip_store_close(store);
	return ret;
}
