/*
 * DO NOT MERGE. A link-time stand-in for the allocation engine (lib/ipam.c) and the sqlite
 * backend, which are written in other branches, so that the CLI branch builds and its tests of
 * what needs no engine run. Every call that would need the engine fails with BIP_EUNSUPPORTED
 * and the detail STUB_MSG; tests/cli.sh and tests/test_cli.c look for that text to skip their
 * engine checks. Delete this file when the engine is merged (the link fails loudly otherwise:
 * every symbol here is defined twice).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/ipam.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

#define STUB_MSG "the allocation engine is not in this build (stub for the CLI branch)"

struct bip_ipam {
	int unused;
};

static int stub_err(char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", STUB_MSG);
	return BIP_EUNSUPPORTED;
}

int bip_sqlite_open(const char *path, const struct bip_store_opts *opts, struct bip_store **out,
		    char *err, size_t errlen)
{
	(void)path, (void)opts, (void)out;
	return stub_err(err, errlen);
}

int bip_ipam_new(struct bip_store *store, struct bip_ipam **out)
{
	(void)store, (void)out;
	return BIP_EUNSUPPORTED;
}
void bip_ipam_free(struct bip_ipam *ipam)
{
	free(ipam);
}
const char *bip_ipam_errmsg(const struct bip_ipam *ipam)
{
	(void)ipam;
	return STUB_MSG;
}
uint64_t bip_ipam_retries(const struct bip_ipam *ipam)
{
	(void)ipam;
	return 0;
}
void bip_ipam_fail_alloc_after(struct bip_ipam *ipam, long n)
{
	(void)ipam, (void)n;
}

#define STUB(...)                                                                                  \
	{                                                                                          \
		(void)ipam;                                                                        \
		return BIP_EUNSUPPORTED;                                                           \
	}

int bip_ipam_allocate(struct bip_ipam *ipam, const struct bip_alloc_req *req,
		      struct bip_alloc_result *out)
    STUB() void bip_alloc_result_free(struct bip_alloc_result *res)
{
	(void)res;
}
int bip_ipam_release_handle(struct bip_ipam *ipam, const char *handle)
    STUB() int bip_ipam_release_addr(struct bip_ipam *ipam, struct bip_addr addr,
				     const char *expect_handle)
	STUB() int bip_ipam_handle_get(struct bip_ipam *ipam, const char *handle,
				       struct bip_handle_info *out)
	    STUB() void bip_handle_info_clear(struct bip_handle_info *h)
{
	(void)h;
}
int bip_ipam_handle_foreach(struct bip_ipam *ipam, const char *prefix,
			    int (*fn)(void *ctx, const struct bip_handle_info *h), void *ctx)
    STUB() int bip_ipam_addr_info(struct bip_ipam *ipam, struct bip_addr addr,
				  struct bip_addr_info *out)
	STUB() void bip_addr_info_clear(struct bip_addr_info *ai)
{
	(void)ai;
}

int bip_ipam_pool_put(struct bip_ipam *ipam, struct bip_pool *pool, bool create_only)
    STUB() int bip_ipam_pool_get(struct bip_ipam *ipam, const char *name, struct bip_pool *out)
	STUB() int bip_ipam_pool_list(struct bip_ipam *ipam, struct bip_pool **out, size_t *n)
	    STUB() int bip_ipam_pool_delete(struct bip_ipam *ipam, const char *name)
		STUB() void bip_pool_clear(struct bip_pool *p)
{
	(void)p;
}
void bip_pools_free(struct bip_pool *v, size_t n)
{
	(void)v, (void)n;
}
int bip_pool_validate(const struct bip_pool *p, char *err, size_t errlen)
{
	(void)p;
	return stub_err(err, errlen);
}

int bip_ipam_config_get(struct bip_ipam *ipam, struct bip_config *out)
    STUB() int bip_ipam_config_set(struct bip_ipam *ipam, const struct bip_config *cfg)
	STUB() void bip_config_default(struct bip_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg)); /* the engine owns the real defaults */
}

int bip_ipam_reservation_put(struct bip_ipam *ipam, const struct bip_reservation *r)
    STUB() int bip_ipam_reservation_get(struct bip_ipam *ipam, const char *name,
					struct bip_reservation *out)
	STUB() int bip_ipam_reservation_list(struct bip_ipam *ipam, struct bip_reservation **out,
					     size_t *n)
	    STUB() int bip_ipam_reservation_delete(struct bip_ipam *ipam, const char *name)
		STUB() void bip_reservation_clear(struct bip_reservation *r)
{
	(void)r;
}
void bip_reservations_free(struct bip_reservation *v, size_t n)
{
	(void)v, (void)n;
}

int bip_ipam_node_put(struct bip_ipam *ipam, const struct bip_node *node)
    STUB() int bip_ipam_node_get(struct bip_ipam *ipam, const char *name, struct bip_node *out)
	STUB() int bip_ipam_node_list(struct bip_ipam *ipam, struct bip_node **out, size_t *n)
	    STUB() int bip_ipam_node_delete(struct bip_ipam *ipam, const char *name)
		STUB() void bip_node_clear(struct bip_node *n)
{
	(void)n;
}
void bip_nodes_free(struct bip_node *v, size_t n)
{
	(void)v, (void)n;
}

int bip_ipam_namespace_put(struct bip_ipam *ipam, const struct bip_namespace *ns)
    STUB() int bip_ipam_namespace_get(struct bip_ipam *ipam, const char *name,
				      struct bip_namespace *out)
	STUB() int bip_ipam_namespace_list(struct bip_ipam *ipam, struct bip_namespace **out,
					   size_t *n)
	    STUB() int bip_ipam_namespace_delete(struct bip_ipam *ipam, const char *name)
		STUB() void bip_namespace_clear(struct bip_namespace *ns)
{
	(void)ns;
}
void bip_namespaces_free(struct bip_namespace *v, size_t n)
{
	(void)v, (void)n;
}

int bip_ipam_block_list(struct bip_ipam *ipam, struct bip_block_info **out, size_t *n)
    STUB() void bip_block_infos_free(struct bip_block_info *v, size_t n)
{
	(void)v, (void)n;
}
int bip_ipam_alloc_foreach(struct bip_ipam *ipam,
			   int (*fn)(void *ctx, const struct bip_alloc_entry *e), void *ctx)
    STUB() int bip_ipam_node_release(struct bip_ipam *ipam, const char *node,
				     size_t *released_blocks, size_t *deleted_blocks)
	STUB() int bip_ipam_release_empty_blocks(struct bip_ipam *ipam, unsigned min_age_s,
						 size_t *deleted)
	    STUB() int bip_ipam_usage(struct bip_ipam *ipam, struct bip_pool_usage **out, size_t *n)
		STUB() void bip_pool_usages_free(struct bip_pool_usage *v, size_t n)
{
	(void)v, (void)n;
}

int bip_ipam_check(struct bip_ipam *ipam, bool repair, struct bip_check_report *out)
    STUB() void bip_check_report_free(struct bip_check_report *r)
{
	(void)r;
}
const char *bip_problem_name(enum bip_problem_kind k)
{
	static const char *const names[] = {
	    "ADDR_NO_HANDLE",	"HANDLE_DANGLING",   "BLOCK_NO_POOL",
	    "BLOCK_TWO_OWNERS", "AFFINITY_NO_BLOCK", "AFFINITY_MISMATCH",
	    "AFFINITY_PENDING", "BLOCK_CORRUPT",     "ADDR_TWICE"};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "UNKNOWN";
}
