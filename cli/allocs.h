/*
 * The allocations of the store, one per address, as 'ipam list' and 'ipam check --show-all-ips'
 * show them: read from the blocks (the truth of who holds what), joined with the handle records
 * (pod, namespace, container, interface, time), sorted by address.
 */
#ifndef BIP_CLI_ALLOCS_H
#define BIP_CLI_ALLOCS_H

#include "ctl.h"
#include "output.h"

struct ctl_alloc {
	struct bip_addr addr;
	struct bip_prefix block;
	char *handle, *node, *block_node, *pool;    /* node: the holder; NULL when unknown */
	char *namespace, *pod, *container, *ifname; /* from the handle record; NULL if none */
	int64_t time;
	bool borrowed, has_record;
	const char *problem; /* set by the caller (ipam check); NULL = none */
};

/* What to keep; NULL fields keep everything. pod is "POD" or "NAMESPACE/POD". */
struct ctl_alloc_filter {
	const char *node, *pool, *namespace, *pod;
};

/* Read the allocations that pass f. Prints the error; returns BIP_OK or the library's code. */
int ctl_allocs_load(struct ctl_session *s, const struct ctl_alloc_filter *f, struct ctl_alloc **out,
		    size_t *n);
void ctl_allocs_free(struct ctl_alloc *v, size_t n);

/* The listing as a table (wide: more columns; problems: a PROBLEM column) and as JSON. */
int ctl_allocs_table(const struct ctl_alloc *v, size_t n, bool wide, bool problems,
		     struct bip_table *t);
json_t *ctl_allocs_json(const struct ctl_alloc *v, size_t n, bool problems);

#endif
