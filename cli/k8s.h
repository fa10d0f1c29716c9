/*
 * Kubernetes objects as kubectl prints them, turned into what blockipam keeps: nodes (labels,
 * pod CIDRs, InternalIPs), namespaces (labels, default pools from annotations) and the set of pods
 * that leak collection compares the allocations with.
 *
 * Input: documents already parsed by bip_manifest_parse (YAML or JSON, one after another): single
 * objects, Lists (kubectl's "List" and the API's "NodeList", "NamespaceList", "PodList") and watch
 * events ({"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR", "object": ...}).
 * A list is the truth for its kind: it replaces what came before it of that kind and marks the kind
 * complete, so that records of objects it does not hold are handled as deleted. Later events
 * change it. Unknown kinds are counted and skipped. Anything malformed is an error naming the
 * document and the field, and the input is then not used at all.
 *
 * The parser is pure (no store, no output): it is what fuzz/fuzz_k8s.c drives.
 */
#ifndef BIP_CLI_K8S_H
#define BIP_CLI_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "blockipam/ipam.h"

/* The label the sync puts on the node and namespace records it writes: a full list deletes the
 * records that carry it and are not listed, and never a record made by hand. */
#define K8S_MARK_KEY "blockipam.io/source"
#define K8S_MARK_VALUE "kubernetes"

#define K8S_MAX_LABELS 1000
#define K8S_MAX_DEPTH 64 /* as manifest.h: objects kubectl prints nest about 15 deep */

enum k8s_kind { K8S_NODE, K8S_NAMESPACE, K8S_POD, K8S_NKINDS };
#define K8S_BIT(k) (1u << (k))

struct k8s_pod {
	char *ns, *name;
	char *uid;     /* NULL when the object has none (objects made without a server) */
	char *node;    /* spec.nodeName, NULL when not scheduled */
	bool finished; /* status.phase Succeeded or Failed: its sandbox is gone */
};

struct k8s_obj {
	enum k8s_kind kind;
	bool deleted;	 /* a DELETED event */
	bool superseded; /* a later list of its kind replaced it */
	bool refused;	 /* lenient input: it did not parse; only kind and name are set */
	size_t seq;	 /* order in the input: the later of two entries for one object wins */
	union {
		struct bip_node node;
		struct bip_namespace ns;
		struct k8s_pod pod;
	} u;
};

struct k8s_input {
	struct k8s_obj *v;
	size_t n, cap;
	bool finished;	       /* k8s_input_finish ran: v is sorted, one entry per object */
	bool full[K8S_NKINDS]; /* a complete list of this kind was read */
	char *rv[K8S_NKINDS];  /* resourceVersion of the last list of the kind, NULL if none */
	bool lenient;	       /* set before adding: a bad object is a warning (k8s.h) */
	size_t docs, skipped, bookmarks, error_events, refused;
	json_t *warnings; /* strings: ERROR events, ... */
};

/*
 * Add the documents of docs (an array) to in. With in->lenient (k8s watch: one bad object must not
 * stop the sync of the cluster) an object that does not parse is a warning and, when it has a
 * name, a placeholder that counts as present and is never written, so that a list does not
 * delete its record nor release its pod's addresses. full_mask (K8S_BIT) marks kinds that a "List"
 * in the input holds completely even when it holds none of them (kubectl get -o json prints "List"
 * whatever it lists). On failure returns BIP_EINVAL (BIP_ENOMEM) with err naming the document
 * ("document 3 (Node n1): spec.podCIDRs[0]: invalid CIDR '10.0.0.1/33'") and in is unusable
 * (only k8s_input_clear).
 */
int k8s_input_add(struct k8s_input *in, const json_t *docs, unsigned full_mask, char *err,
		  size_t errlen);
/* Keep the last entry of each object (sorted by kind, then name). */
void k8s_input_finish(struct k8s_input *in);
/* The entry of an object after k8s_input_finish (for a pod, ns is its namespace), or NULL. */
const struct k8s_obj *k8s_input_find(const struct k8s_input *in, enum k8s_kind kind, const char *ns,
				     const char *name);
void k8s_input_clear(struct k8s_input *in);
/* Free what o holds (not o itself) and zero its union; its kind stays. */
void k8s_obj_clear(struct k8s_obj *o);
/* A new copy of obj with only the fields the parser reads (a pod of 10 kB keeps about 200 bytes),
 * so that the list of a large cluster's pods fits in memory; NULL on ENOMEM. What is not an
 * object is returned as it is, for the parser to refuse. */
json_t *k8s_slim(const json_t *obj);

/* "15m", "1h30m", "90s", "0s": Go-style durations of whole seconds. BIP_EINVAL otherwise. */
int k8s_parse_duration(const char *s, int64_t *seconds);

struct k8s_opts {
	int64_t grace_s;    /* release a leaked allocation once at least this old */
	bool dry_run;	    /* say what would change, change nothing */
	int64_t now;	    /* unix seconds */
	FILE *log;	    /* one line per action */
	const char *prefix; /* of each log line ("" or "k8s watch: ") */
};

struct k8s_stats {
	size_t nodes_written, nodes_unchanged, nodes_deleted;
	size_t ns_written, ns_unchanged, ns_deleted;
	size_t blocks_released, blocks_deleted;
	size_t leaks_found, leaks_released, leaks_young;
	size_t missing_pools;
	size_t failures; /* writes the store refused (each logged) */
};

/*
 * Make the store say what in says (after k8s_input_finish): node and namespace records written or
 * deleted, deleted nodes' affinities released, leaked allocations released. Refuses, before any
 * write, a pod CIDR that overlaps a pool. A write the store refuses is logged and counted in
 * st->failures and the rest goes on; returns BIP_OK unless the store cannot be read.
 */
int k8s_apply(struct bip_ipam *ipam, const struct k8s_input *in, const struct k8s_opts *o,
	      struct k8s_stats *st, char *err, size_t errlen);
/* The stats as a JSON object (NULL on ENOMEM). */
json_t *k8s_stats_json(const struct k8s_stats *st, const struct k8s_input *in);

#endif
