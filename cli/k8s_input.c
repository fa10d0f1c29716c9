/*
 * The set of parsed Kubernetes objects (struct k8s_input, k8s.h) once the parser (k8s_doc.c) has
 * filled it: keep the last entry of each object in (kind, namespace, name) order, look one up by
 * binary search, free them all. Nothing here reads a document.
 */
#include <stdlib.h>
#include <string.h>

#include "k8s.h"

void k8s_obj_clear(struct k8s_obj *o)
{
	if (o->kind == K8S_NODE) {
		bip_node_clear(&o->u.node);
	} else if (o->kind == K8S_NAMESPACE) {
		bip_namespace_clear(&o->u.ns);
	} else {
		free(o->u.pod.ns);
		free(o->u.pod.name);
		free(o->u.pod.uid);
		free(o->u.pod.node);
	}
	memset(&o->u, 0, sizeof(o->u));
}

static const char *obj_ns(const struct k8s_obj *o)
{
	return o->kind == K8S_POD ? o->u.pod.ns : "";
}

static const char *obj_name(const struct k8s_obj *o)
{
	return o->kind == K8S_NODE	  ? o->u.node.name
	       : o->kind == K8S_NAMESPACE ? o->u.ns.name
					  : o->u.pod.name;
}

static int key_cmp(enum k8s_kind ka, const char *nsa, const char *na, enum k8s_kind kb,
		   const char *nsb, const char *nb)
{
	int r;

	if (ka != kb)
		return ka < kb ? -1 : 1;
	if ((r = strcmp(nsa, nsb)) != 0)
		return r;
	return strcmp(na, nb);
}

static int obj_cmp(const void *x, const void *y)
{
	const struct k8s_obj *a = x, *b = y;
	int r = key_cmp(a->kind, obj_ns(a), obj_name(a), b->kind, obj_ns(b), obj_name(b));

	if (r)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void k8s_input_finish(struct k8s_input *in)
{
	size_t w = 0;

	if (in->finished)
		return;
	/* drop superseded entries first, then keep the last of each object */
	for (size_t i = 0; i < in->n; i++) {
		if (in->v[i].superseded)
			k8s_obj_clear(&in->v[i]);
		else
			in->v[w++] = in->v[i];
	}
	in->n = w;
	if (in->n)
		qsort(in->v, in->n, sizeof(*in->v), obj_cmp);
	w = 0;
	for (size_t i = 0; i < in->n; i++) {
		if (i + 1 < in->n && key_cmp(in->v[i].kind, obj_ns(&in->v[i]), obj_name(&in->v[i]),
					     in->v[i + 1].kind, obj_ns(&in->v[i + 1]),
					     obj_name(&in->v[i + 1])) == 0) {
			k8s_obj_clear(&in->v[i]); /* a later entry for the same object follows */
			continue;
		}
		in->v[w++] = in->v[i];
	}
	in->n = w;
	in->finished = true;
}

const struct k8s_obj *k8s_input_find(const struct k8s_input *in, enum k8s_kind kind, const char *ns,
				     const char *name)
{
	size_t lo = 0, hi = in->n;

	if (!ns)
		ns = "";
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct k8s_obj *o = &in->v[mid];
		int r = key_cmp(kind, ns, name, o->kind, obj_ns(o), obj_name(o));

		if (r == 0)
			return o;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void k8s_input_clear(struct k8s_input *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->n; i++)
		k8s_obj_clear(&in->v[i]);
	free(in->v);
	for (int k = 0; k < K8S_NKINDS; k++)
		free(in->rv[k]);
	json_decref(in->warnings);
	memset(in, 0, sizeof(*in));
}
