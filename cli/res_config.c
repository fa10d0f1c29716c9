/*
 * The IPAM configuration (resource.h): one resource, named "default"; apply sets all of it (what a
 * document leaves out takes its default) and delete resets it to the defaults.
 */
#include <string.h>

#include "res_kind.h"

static int conv_config(struct bip_rd *c, const char *name, const json_t *meta, const json_t *spec,
		       struct bip_res *r)
{
	struct bip_config *cfg = &r->u.cfg;
	static const char *const ours[] = {"strictAffinity",	"autoAllocateBlocks",
					   "maxBlocksPerHost",	"emptyBlockReleaseSeconds",
					   "ipCooldownSeconds", NULL};
	static const char *const calico[] = {"strictAffinity", "autoAllocateBlocks",
					     "maxBlocksPerHost", "ipCooldownSeconds", NULL};
	static const char *const calico_warned[] = {"kubeVirtVMAddressPersistence", NULL};
	const struct bip_rd_fields fs = {
	    c->form == BIP_RD_OURS ? ours : calico, NULL, NULL,
	    c->form == BIP_RD_OURS ? NULL : calico_warned,
	    "blockipam has no such setting (there is no KubeVirt support)"};
	json_int_t max = 0, empty = 0, cool = 0;
	int rc;

	(void)name;
	(void)meta;
	/* apply sets the whole configuration: what the document leaves out takes its default */
	bip_config_default(cfg);
	max = cfg->max_blocks_per_host;
	empty = cfg->empty_block_release_s;
	cool = cfg->ip_cooldown_s;
	if ((rc = bip_rd_check(c, spec, "spec", &fs)) != BIP_OK ||
	    (rc = bip_rd_bool(c, spec, "spec", "strictAffinity", &cfg->strict_affinity)) !=
		BIP_OK ||
	    (rc = bip_rd_bool(c, spec, "spec", "autoAllocateBlocks", &cfg->auto_allocate_blocks)) ||
	    (rc = bip_rd_int(c, spec, "spec", "maxBlocksPerHost", 0, 1000000, &max)) != BIP_OK ||
	    (rc = bip_rd_int(c, spec, "spec", "emptyBlockReleaseSeconds", 0, 365 * 86400,
			     &empty)) != BIP_OK ||
	    (rc = bip_rd_int(c, spec, "spec", "ipCooldownSeconds", 0, BIP_COOLDOWN_MAX, &cool)))
		return rc;
	cfg->max_blocks_per_host = (unsigned)max;
	cfg->empty_block_release_s = (unsigned)empty;
	cfg->ip_cooldown_s = (unsigned)cool;
	return BIP_OK;
}

json_t *bip_res_config_json(const struct bip_config *c)
{
	return bip_res_doc_new(
	    BIP_RES_CONFIG, BIP_CONFIG_NAME, NULL,
	    json_pack("{s:b, s:b, s:I, s:I, s:I}", "strictAffinity", c->strict_affinity,
		      "autoAllocateBlocks", c->auto_allocate_blocks, "maxBlocksPerHost",
		      (json_int_t)c->max_blocks_per_host, "emptyBlockReleaseSeconds",
		      (json_int_t)c->empty_block_release_s, "ipCooldownSeconds",
		      (json_int_t)c->ip_cooldown_s));
}

static json_t *config_to_json(const struct bip_res *r)
{
	return bip_res_config_json(&r->u.cfg);
}

static const char *config_name(const struct bip_res *r)
{
	(void)r;
	return BIP_CONFIG_NAME;
}

static int config_get(struct bip_ipam *ipam, const char *name, json_t **doc)
{
	struct bip_config c;
	int rc;

	if (strcmp(name, BIP_CONFIG_NAME) != 0)
		return BIP_ENOTFOUND;
	if ((rc = bip_ipam_config_get(ipam, &c)) == BIP_OK)
		*doc = bip_res_config_json(&c);
	return rc;
}

static int config_list(struct bip_ipam *ipam, json_t *docs)
{
	struct bip_config c;
	int rc;

	if ((rc = bip_ipam_config_get(ipam, &c)) == BIP_OK)
		rc = bip_res_add(docs, bip_res_config_json(&c));
	return rc;
}

static int config_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only)
{
	(void)create_only;
	return bip_ipam_config_set(ipam, &r->u.cfg);
}

static int config_delete(struct bip_ipam *ipam, const char *name)
{
	struct bip_config c;

	if (strcmp(name, BIP_CONFIG_NAME) != 0)
		return BIP_ENOTFOUND;
	bip_config_default(&c);
	return bip_ipam_config_set(ipam, &c);
}

static const struct bip_res_col config_cols[] = {
    {"NAME", "metadata.name", false},
    {"STRICTAFFINITY", "spec.strictAffinity", false},
    {"AUTOALLOCATEBLOCKS", "spec.autoAllocateBlocks", false},
    {"MAXBLOCKSPERHOST", "spec.maxBlocksPerHost", false},
    {"EMPTYBLOCKRELEASE", "spec.emptyBlockReleaseSeconds", false},
    {"IPCOOLDOWN", "spec.ipCooldownSeconds", false},
    {NULL, NULL, false}};

const struct bip_res_kind_ops bip_res_config_ops = {
    .name = "IPAMConfig",
    .word = "ipamconfig",
    .words = {"ipamconfig", "ipamconfigs", "ipamconfiguration", "ipamconfigurations"},
    .fixed_name = BIP_CONFIG_NAME,
    .columns = config_cols,
    .name_of = config_name,
    .convert = conv_config,
    .to_json = config_to_json,
    .get = config_get,
    .list = config_list,
    .put = config_put,
    .del = config_delete,
};
