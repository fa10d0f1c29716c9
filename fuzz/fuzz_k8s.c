/*
 * libFuzzer target for the Kubernetes document parser (cli/k8s_doc.c) behind `k8s sync` and
 * `k8s watch`: any text either fails with a message or gives an input whose objects all satisfy
 * what k8s_apply relies on (names blockipam accepts, at most one pod CIDR per family, pod CIDRs
 * without host bits, one entry per object after k8s_input_finish, sorted for k8s_input_find);
 * and the lists' items slimmed as k8s watch slims them parse without trouble.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/k8s.h"
#include "../cli/manifest.h"
#include "../cli/resource.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *name_of(const struct k8s_obj *o)
{
	return o->kind == K8S_NODE	  ? o->u.node.name
	       : o->kind == K8S_NAMESPACE ? o->u.ns.name
					  : o->u.pod.name;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_input in = {0};
	json_t *docs = NULL;
	char err[1024];

	if (bip_manifest_parse((const char *)data, size, &docs, err, sizeof(err)) != BIP_OK)
		return 0;
	/* the full mask and leniency come from the input too, so every way of reading is driven */
	in.lenient = size && (data[0] & 8u);
	if (k8s_input_add(&in, docs, size ? data[0] & 7u : 0, err, sizeof(err)) == BIP_OK) {
		k8s_input_finish(&in);
		for (size_t i = 0; i < in.n; i++) {
			const struct k8s_obj *o = &in.v[i];
			const char *ns = o->kind == K8S_POD ? o->u.pod.ns : NULL;

			if (!name_of(o) || !bip_res_name_ok(name_of(o)) ||
			    k8s_input_find(&in, o->kind, ns, name_of(o)) != o)
				abort();
			if (o->kind == K8S_NODE) {
				const struct bip_node *n = &o->u.node;

				if (n->npod_cidrs > 2 ||
				    (n->npod_cidrs == 2 &&
				     n->pod_cidrs[0].addr.family == n->pod_cidrs[1].addr.family))
					abort();
				json_decref(bip_res_node_json(n));
			} else if (o->kind == K8S_NAMESPACE) {
				json_decref(bip_res_namespace_json(&o->u.ns));
			}
		}
	} else if (!err[0]) {
		abort(); /* a refusal always says why */
	}
	k8s_input_clear(&in);
	/* k8s watch slims each listed object first: the parser must take whatever it makes */
	{
		json_t *slim = json_array();
		json_t *d;
		size_t i;

		json_array_foreach(docs, i, d)
		{
			json_t *items = json_object_get(d, "items"), *e, *l = json_deep_copy(d);
			size_t j;

			if (json_is_array(items) && l) {
				json_t *si = json_array();

				json_array_foreach(items, j, e)
				{
					json_array_append_new(si, k8s_slim(e));
				}
				json_object_set_new(l, "items", si);
			}
			json_array_append_new(slim, l ? l : json_null());
		}
		memset(&in, 0, sizeof(in));
		if (k8s_input_add(&in, slim, 0, err, sizeof(err)) == BIP_OK)
			k8s_input_finish(&in);
		k8s_input_clear(&in);
		json_decref(slim);
	}
	json_decref(docs);
	return 0;
}
