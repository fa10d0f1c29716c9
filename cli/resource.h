/*
 * Resources: the five kinds blockipamctl manages (pool, reservation, IPAM config, node, namespace)
 * as manifest documents and as library structs.
 *
 * Input forms: blockipam's own (apiVersion blockipam.io/v1; kinds Pool, Reservation, IPAMConfig,
 * Node, Namespace) and Calico's (projectcalico.org/v3 and crd.projectcalico.org/v1; kinds IPPool,
 * IPReservation, IPAMConfiguration / IPAMConfig), a document each, or many in a List (kind
 * "List" or "<Kind>List" with items). Parsing is strict: an unknown field is an error naming it.
 * Calico pool fields blockipam keeps but does not use (ipipMode, vxlanMode, natOutgoing,
 * disableBGPExport, awsSubnetID) go verbatim into bip_pool.extra and come back out in spec.
 * Server-set metadata (uid, resourceVersion, ...) and status are ignored; what is ignored that a
 * user wrote (labels on a pool, Calico's ipCooldownSeconds) is reported as a warning.
 *
 * Output form: always blockipam.io/v1, which apply reads back unchanged.
 *
 * A struct bip_res owns everything it points to (freed by bip_res_clear); library objects read
 * from the store stay the library's and are only converted to JSON.
 */
#ifndef BIP_CLI_RESOURCE_H
#define BIP_CLI_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "blockipam/ipam.h"
#include "blockipam/selector.h"
#include "output.h"

#define BIP_API_VERSION "blockipam.io/v1"
#define BIP_CALICO_API "projectcalico.org/v3"
#define BIP_CONFIG_NAME "default"

enum bip_res_kind {
	BIP_RES_POOL,
	BIP_RES_RESERVATION,
	BIP_RES_CONFIG,
	BIP_RES_NODE,
	BIP_RES_NAMESPACE,
	BIP_RES__COUNT
};

struct bip_res {
	enum bip_res_kind kind;
	char *src; /* for messages: "document 2 (IPPool default-ipv4-ippool)" */
	union {
		struct bip_pool pool;
		struct bip_reservation res;
		struct bip_config cfg;
		struct bip_node node;
		struct bip_namespace ns;
	} u;
};

/* A kind as the command line names it ("pool", "IPPools", "ipamconfiguration", ...): any case,
 * singular or plural, ours or Calico's. BIP_EINVAL for an unknown word. */
int bip_res_kind_parse(const char *word, enum bip_res_kind *out);
/* Every word of kind k (lower case) into out, at most max; how many. */
size_t bip_res_kind_words(enum bip_res_kind k, const char **out, size_t max);
/* "Pool", "Reservation", "IPAMConfig", "Node", "Namespace": the kind in our manifests. */
const char *bip_res_kind_name(enum bip_res_kind k);
/* "pool", "reservation", "ipamconfig", "node", "namespace": the word in messages. */
const char *bip_res_kind_word(enum bip_res_kind k);
/* The resource's name ("default" for the IPAM config). */
const char *bip_res_name(const struct bip_res *r);

/*
 * Convert every document of docs (an array; Lists are flattened) and check them against each other:
 * one resource twice, or two pools that overlap, is an error. On failure returns BIP_EINVAL (or
 * BIP_ENOMEM) and err says which document and why ("document 2 (IPPool p2): spec.cidr '10.0.0.1/24'
 * has host bits set"); *out is written only on success. Warnings (strings) are appended to
 * warnings when it is not NULL.
 */
int bip_res_from_docs(const json_t *docs, struct bip_res **out, size_t *n, json_t *warnings,
		      char *err, size_t errlen);
/* One document (not a List); what names it in messages ("document 3", "the patched pool"). */
int bip_res_from_json(const json_t *doc, const char *what, struct bip_res *out, json_t *warnings,
		      char *err, size_t errlen);
/* RFC 7386 JSON merge patch of target: a new value (NULL on ENOMEM). */
json_t *bip_res_merge_patch(const json_t *target, const json_t *patch);
/* The library's own validation where it has one (bip_pool_validate); err names the resource. */
int bip_res_validate(const struct bip_res *r, char *err, size_t errlen);
void bip_res_clear(struct bip_res *r);
void bip_res_free(struct bip_res *v, size_t n);

/* Our form of a library object: a new JSON document, NULL on ENOMEM (or, for a pool, when its
 * extra is not a JSON object). */
json_t *bip_res_pool_json(const struct bip_pool *p);
json_t *bip_res_reservation_json(const struct bip_reservation *r);
json_t *bip_res_config_json(const struct bip_config *c);
json_t *bip_res_node_json(const struct bip_node *n);
json_t *bip_res_namespace_json(const struct bip_namespace *ns);
json_t *bip_res_to_json(const struct bip_res *r);
/* {"apiVersion": ..., "kind": "List", "items": items}; steals items. */
json_t *bip_res_list_json(json_t *items);

/* Whether word is one of calicoctl's names of a kind with a Calico form (ippool, IPReservations):
 * for it, get -o yaml / json prints Calico's form, which apply reads back unchanged. */
bool bip_res_calico_word(const char *word);
/* doc, our form of a resource of kind k, turned into Calico's projectcalico.org/v3 form in place
 * (left as it is for a kind without one, or a pool with a priority, which Calico cannot say);
 * BIP_ENOMEM. */
int bip_res_to_calico(enum bip_res_kind k, json_t *doc);
/* {"apiVersion": "projectcalico.org/v3", "kind": "IPPoolList", "items": items} (our List for a kind
 * without a Calico form); steals items. */
json_t *bip_res_calico_list_json(enum bip_res_kind k, json_t *items);

/* A table of documents of one kind (our form); wide adds labels, selectors and kept Calico fields;
 * with kind_prefix the NAME column reads "pool/p1". */
int bip_res_table(enum bip_res_kind k, const json_t *docs, bool wide, bool kind_prefix,
		  struct bip_table *t);

/* A name as blockipam accepts it: 1-253 of [A-Za-z0-9._-], starting and ending alphanumeric. */
bool bip_res_name_ok(const char *s);
/* A name as Kubernetes (and Calico) accepts one: a lowercase RFC 1123 subdomain, or with label
 * an RFC 1123 label (namespaces). What manifests name. */
bool bip_res_k8s_name_ok(const char *s, bool label);
/* The rule of bip_res_k8s_name_ok in words, for messages. */
#define BIP_RES_K8S_NAME_RULE                                                                      \
	"a lowercase RFC 1123 subdomain: at most 253 of a-z, 0-9, '-' and '.', each part between " \
	"dots starting and ending with a letter or digit, as Kubernetes names"
#define BIP_RES_K8S_LABEL_RULE                                                                     \
	"a lowercase RFC 1123 label: at most 63 of a-z, 0-9 and '-', starting and ending with a "  \
	"letter or digit, as Kubernetes names namespaces"

/* --- the store side (resource_store.c) --------------------------------------------------- */

/* Our form of one stored resource / of all of a kind (an array). BIP_ENOTFOUND when absent. */
int bip_res_get(struct bip_ipam *ipam, enum bip_res_kind k, const char *name, json_t **doc);
int bip_res_list(struct bip_ipam *ipam, enum bip_res_kind k, json_t **docs);
/* *same: r is stored exactly as storing it would leave it (with the library's defaults for
 * what it leaves out): writing it would change nothing. */
int bip_res_unchanged(struct bip_ipam *ipam, const struct bip_res *r, bool *same);
/* Store one resource; create_only: BIP_EEXIST when it exists. */
int bip_res_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only);
/* Delete; the IPAM config is reset to its defaults instead. */
int bip_res_delete(struct bip_ipam *ipam, enum bip_res_kind k, const char *name);
/* Whether the resource is stored (*exists). */
int bip_res_exists(struct bip_ipam *ipam, enum bip_res_kind k, const char *name, bool *exists);
/*
 * Checks against the store before anything of v is written: with create_only none may exist; a
 * pool keeps its CIDR and block size and overlaps no other stored pool. err names the document.
 * Returns BIP_OK, BIP_EINVAL / BIP_EEXIST / BIP_EOVERLAP with err, or a store error.
 */
int bip_res_precheck(struct bip_ipam *ipam, const struct bip_res *v, size_t n, bool create_only,
		     bool *exists, char *err, size_t errlen);

#endif
