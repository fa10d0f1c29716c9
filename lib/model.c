/*
 * Codecs of the stored records other than blocks, handles and affinities (model_block.c):
 * pools, the config, reservations, nodes, namespaces and labels, and the JSON helpers every
 * codec shares. JSON in the store (readable with sqlite3 or etcdctl), strict decoders (a store
 * may hold garbage: every field is type- and range-checked, and a record that breaks an
 * invariant is BIP_ECORRUPT, never a crash), compact encoders.
 */
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

char *bip__mj_dump(struct bip_ipam *ip, json_t *j, size_t *len)
{
	char *s, *copy;

	if (!j)
		return NULL;
	s = json_dumps(j, JFLAGS);
	json_decref(j);
	if (!s)
		return NULL;
	/* Copy through bip__im_malloc so the test hook covers encoders too. */
	*len = strlen(s);
	copy = bip__im_malloc(ip, *len + 1);
	if (copy)
		memcpy(copy, s, *len + 1);
	free(s);
	return copy;
}

json_t *bip__mj_load(const unsigned char *v, size_t len)
{
	json_error_t e;

	return json_loadb((const char *)v, len, JSON_REJECT_DUPLICATES, &e);
}

/* Optional string field: absent or null → *out NULL; wrong type → error. */
int bip__mj_get_str(struct bip_ipam *ip, json_t *o, const char *k, char **out, bool required)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? BIP_ECORRUPT : BIP_OK;
	if (!json_is_string(v))
		return BIP_ECORRUPT;
	*out = bip__im_strdup(ip, json_string_value(v));
	return *out ? BIP_OK : BIP_ENOMEM;
}

int bip__mj_get_int(json_t *o, const char *k, int64_t *out, int64_t min, int64_t max)
{
	json_t *v = json_object_get(o, k);

	if (!v) {
		*out = 0;
		return BIP_OK;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return BIP_ECORRUPT;
	*out = json_integer_value(v);
	return BIP_OK;
}

int bip__mj_get_bool(json_t *o, const char *k, bool *out, bool dflt)
{
	json_t *v = json_object_get(o, k);

	if (!v) {
		*out = dflt;
		return BIP_OK;
	}
	if (!json_is_boolean(v))
		return BIP_ECORRUPT;
	*out = json_is_true(v);
	return BIP_OK;
}

int bip__mj_set_str(json_t *o, const char *k, const char *s)
{
	json_t *v;

	if (!s)
		return 0;
	v = json_string(s);
	if (!v)
		return -1;
	return json_object_set_new(o, k, v);
}

/* --- labels ----------------------------------------------------------------------------- */

void bip__label_set_clear(struct bip_label_set *ls)
{
	if (!ls)
		return;
	for (size_t i = 0; i < ls->n; i++) {
		free((char *)ls->v[i].key);
		free((char *)ls->v[i].value);
	}
	free(ls->v);
	ls->v = NULL;
	ls->n = 0;
}

int bip__label_set_dup(struct bip_ipam *ip, struct bip_label_set *dst,
		       const struct bip_label_set *src)
{
	struct bip_label_set ls = {0};

	if (src->n) {
		ls.v = bip__im_calloc(ip, src->n, sizeof(*ls.v));
		if (!ls.v)
			return BIP_ENOMEM;
	}
	for (size_t i = 0; i < src->n; i++) {
		ls.v[i].key = bip__im_strdup(ip, src->v[i].key);
		ls.v[i].value = bip__im_strdup(ip, src->v[i].value ? src->v[i].value : "");
		ls.n++;
		if (!ls.v[i].key || !ls.v[i].value) {
			bip__label_set_clear(&ls);
			return BIP_ENOMEM;
		}
	}
	*dst = ls;
	return BIP_OK;
}

static int labels_decode(struct bip_ipam *ip, json_t *o, struct bip_label_set *out)
{
	const char *k;
	json_t *v;
	struct bip_label_set ls = {0};

	if (!o)
		return BIP_OK;
	if (!json_is_object(o))
		return BIP_ECORRUPT;
	ls.v = bip__im_calloc(ip, json_object_size(o), sizeof(*ls.v));
	if (!ls.v)
		return BIP_ENOMEM;
	json_object_foreach(o, k, v)
	{
		if (!json_is_string(v)) {
			bip__label_set_clear(&ls);
			return BIP_ECORRUPT;
		}
		ls.v[ls.n].key = bip__im_strdup(ip, k);
		ls.v[ls.n].value = bip__im_strdup(ip, json_string_value(v));
		ls.n++;
		if (!ls.v[ls.n - 1].key || !ls.v[ls.n - 1].value) {
			bip__label_set_clear(&ls);
			return BIP_ENOMEM;
		}
	}
	*out = ls;
	return BIP_OK;
}

static json_t *labels_encode(const struct bip_label_set *ls)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < ls->n; i++)
		if (json_object_set_new(o, ls->v[i].key,
					json_string(ls->v[i].value ? ls->v[i].value : "")) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* --- pools ------------------------------------------------------------------------------ */

static const char *const use_names[] = {"Workload", "Tunnel", "LoadBalancer"};

int bip__pool_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		     struct bip_pool *out)
{
	json_t *j = bip__mj_load(v, len), *uses, *e, *extra;
	struct bip_pool p = {0};
	char *cidr = NULL, *mode = NULL;
	int64_t x;
	size_t i;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	p.name = bip__im_strdup(ip, name);
	if (!p.name) {
		rc = BIP_ENOMEM;
		goto out;
	}
	if ((rc = bip__mj_get_str(ip, j, "cidr", &cidr, true)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "nodeSelector", &p.node_selector, false)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "namespaceSelector", &p.ns_selector, false)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "assignmentMode", &mode, false)) != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (bip_prefix_parse_net(cidr, &p.cidr) != BIP_OK)
		goto out;
	if (bip__mj_get_int(j, "blockSize", &x, 0, 128) != BIP_OK)
		goto out;
	p.block_len = (unsigned)x;
	if (bip__mj_get_int(j, "priority", &x, INT32_MIN, INT32_MAX) != BIP_OK)
		goto out;
	p.priority = (int)x;
	if (bip__mj_get_bool(j, "disabled", &p.disabled, false) != BIP_OK)
		goto out;
	if (mode && strcmp(mode, "Manual") == 0)
		p.mode = BIP_ASSIGN_MANUAL;
	else if (mode && strcmp(mode, "Automatic") != 0)
		goto out;
	uses = json_object_get(j, "allowedUses");
	if (uses && !json_is_array(uses))
		goto out;
	json_array_foreach(uses, i, e)
	{
		bool ok = false;

		for (int u = 0; u < 3; u++)
			if (json_is_string(e) && strcmp(json_string_value(e), use_names[u]) == 0) {
				p.allowed_uses |= 1u << u;
				ok = true;
			}
		if (!ok)
			goto out;
	}
	extra = json_object_get(j, "extra");
	if (extra) {
		if (!json_is_object(extra))
			goto out;
		p.extra = json_dumps(extra, JFLAGS);
		if (!p.extra) {
			rc = BIP_ENOMEM;
			goto out;
		}
	}
	if (bip_pool_validate(&p, NULL, 0) != BIP_OK)
		goto out;
	*out = p;
	memset(&p, 0, sizeof(p));
	rc = BIP_OK;
out:
	free(cidr);
	free(mode);
	bip_pool_clear(&p);
	json_decref(j);
	return rc;
}

char *bip__pool_encode(struct bip_ipam *ip, const struct bip_pool *p, size_t *len)
{
	char buf[BIP_PREFIX_STRLEN];
	json_t *j = json_object(), *uses = json_array();
	int bad = !j || !uses;

	bad |= bip__mj_set_str(j, "cidr", bip_prefix_fmt(p->cidr, buf));
	bad |= json_object_set_new(j, "blockSize", json_integer(p->block_len));
	if (p->disabled)
		bad |= json_object_set_new(j, "disabled", json_true());
	if (p->node_selector && *p->node_selector)
		bad |= bip__mj_set_str(j, "nodeSelector", p->node_selector);
	if (p->ns_selector && *p->ns_selector)
		bad |= bip__mj_set_str(j, "namespaceSelector", p->ns_selector);
	for (int u = 0; !bad && u < 3; u++)
		if (p->allowed_uses & (1u << u))
			bad |= json_array_append_new(uses, json_string(use_names[u]));
	if (!bad) {
		json_object_set_new(j, "allowedUses", uses);
		uses = NULL;
	}
	bad |= bip__mj_set_str(j, "assignmentMode",
			       p->mode == BIP_ASSIGN_MANUAL ? "Manual" : "Automatic");
	if (p->priority)
		bad |= json_object_set_new(j, "priority", json_integer(p->priority));
	if (p->extra && *p->extra) {
		json_error_t e;
		json_t *x = json_loads(p->extra, 0, &e);

		if (!json_is_object(x)) {
			json_decref(x);
			bad = 1;
		} else {
			bad |= json_object_set_new(j, "extra", x);
		}
	}
	json_decref(uses);
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return bip__mj_dump(ip, j, len);
}

/* --- config ----------------------------------------------------------------------------- */

int bip__config_decode(struct bip_ipam *ip, const unsigned char *v, size_t len,
		       struct bip_config *out)
{
	json_t *j = bip__mj_load(v, len);
	struct bip_config c;
	int64_t x;
	int rc = BIP_ECORRUPT;

	(void)ip;
	bip_config_default(&c);
	if (!j || !json_is_object(j))
		goto out;
	if (bip__mj_get_bool(j, "strictAffinity", &c.strict_affinity, c.strict_affinity) !=
		BIP_OK ||
	    bip__mj_get_bool(j, "autoAllocateBlocks", &c.auto_allocate_blocks,
			     c.auto_allocate_blocks) != BIP_OK)
		goto out;
	if (bip__mj_get_int(j, "maxBlocksPerHost", &x, 0, 1000000) != BIP_OK)
		goto out;
	c.max_blocks_per_host = (unsigned)x;
	if (json_object_get(j, "emptyBlockReleaseSeconds")) {
		if (bip__mj_get_int(j, "emptyBlockReleaseSeconds", &x, 0, 365LL * 86400) != BIP_OK)
			goto out;
		c.empty_block_release_s = (unsigned)x;
	}
	if (bip__mj_get_int(j, "ipCooldownSeconds", &x, 0, BIP_COOLDOWN_MAX) != BIP_OK)
		goto out;
	c.ip_cooldown_s = (unsigned)x;
	*out = c;
	rc = BIP_OK;
out:
	json_decref(j);
	return rc;
}

char *bip__config_encode(struct bip_ipam *ip, const struct bip_config *c, size_t *len)
{
	json_t *j = json_pack("{sbsbsIsIsI}", "strictAffinity", c->strict_affinity,
			      "autoAllocateBlocks", c->auto_allocate_blocks, "maxBlocksPerHost",
			      (json_int_t)c->max_blocks_per_host, "emptyBlockReleaseSeconds",
			      (json_int_t)c->empty_block_release_s, "ipCooldownSeconds",
			      (json_int_t)c->ip_cooldown_s);

	return bip__mj_dump(ip, j, len);
}

/* --- reservations ----------------------------------------------------------------------- */

static int prefixes_decode(struct bip_ipam *ip, json_t *a, struct bip_prefix **out, size_t *n,
			   bool net)
{
	struct bip_prefix *v;
	json_t *e;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!a)
		return BIP_OK;
	if (!json_is_array(a) || json_array_size(a) > 4096)
		return BIP_ECORRUPT;
	v = bip__im_calloc(ip, json_array_size(a), sizeof(*v));
	if (!v)
		return BIP_ENOMEM;
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e) ||
		    bip_prefix_parse_ex(json_string_value(e), net, true, &v[i]) != BIP_OK) {
			free(v);
			return BIP_ECORRUPT;
		}
	}
	*out = v;
	*n = json_array_size(a);
	return BIP_OK;
}

static json_t *prefixes_encode(const struct bip_prefix *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		char buf[BIP_PREFIX_STRLEN];

		if (json_array_append_new(a, json_string(bip_prefix_fmt(v[i], buf))) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int bip__reservation_decode(struct bip_ipam *ip, const char *name, const unsigned char *v,
			    size_t len, struct bip_reservation *out)
{
	json_t *j = bip__mj_load(v, len);
	struct bip_reservation r = {0};
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	r.name = bip__im_strdup(ip, name);
	if (!r.name) {
		rc = BIP_ENOMEM;
		goto out;
	}
	rc = prefixes_decode(ip, json_object_get(j, "cidrs"), &r.cidrs, &r.ncidrs, true);
	if (rc != BIP_OK)
		goto out;
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	bip_reservation_clear(&r);
	json_decref(j);
	return rc;
}

char *bip__reservation_encode(struct bip_ipam *ip, const struct bip_reservation *r, size_t *len)
{
	json_t *a = prefixes_encode(r->cidrs, r->ncidrs);

	return a ? bip__mj_dump(ip, json_pack("{so}", "cidrs", a), len) : NULL;
}

/* --- nodes and namespaces --------------------------------------------------------------- */

int bip__node_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		     struct bip_node *out)
{
	json_t *j = bip__mj_load(v, len), *a, *e;
	struct bip_node n = {0};
	size_t i;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	n.name = bip__im_strdup(ip, name);
	if (!n.name) {
		rc = BIP_ENOMEM;
		goto out;
	}
	if ((rc = labels_decode(ip, json_object_get(j, "labels"), &n.labels)) != BIP_OK)
		goto out;
	if ((rc = prefixes_decode(ip, json_object_get(j, "podCIDRs"), &n.pod_cidrs, &n.npod_cidrs,
				  true)) != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	a = json_object_get(j, "addresses");
	if (a && (!json_is_array(a) || json_array_size(a) > NODE_MAX_ADDRS))
		goto out;
	if (a) {
		n.addrs = bip__im_calloc(ip, json_array_size(a), sizeof(*n.addrs));
		if (!n.addrs) {
			rc = BIP_ENOMEM;
			goto out;
		}
	}
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e) ||
		    bip_addr_parse(json_string_value(e), &n.addrs[i]) != BIP_OK)
			goto out;
		n.naddrs++;
	}
	*out = n;
	memset(&n, 0, sizeof(n));
	rc = BIP_OK;
out:
	bip_node_clear(&n);
	json_decref(j);
	return rc;
}

char *bip__node_encode(struct bip_ipam *ip, const struct bip_node *n, size_t *len)
{
	json_t *j = json_object(), *addrs = json_array(), *labels = labels_encode(&n->labels),
	       *pods = prefixes_encode(n->pod_cidrs, n->npod_cidrs);
	int bad = !j || !addrs || !labels || !pods;

	for (size_t i = 0; !bad && i < n->naddrs; i++) {
		char buf[BIP_ADDR_STRLEN];

		bad |= json_array_append_new(addrs, json_string(bip_addr_fmt(n->addrs[i], buf)));
	}
	if (bad) {
		json_decref(j);
		json_decref(addrs);
		json_decref(labels);
		json_decref(pods);
		return NULL;
	}
	json_object_set_new(j, "labels", labels);
	json_object_set_new(j, "addresses", addrs);
	json_object_set_new(j, "podCIDRs", pods);
	return bip__mj_dump(ip, j, len);
}

int bip__namespace_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
			  struct bip_namespace *out)
{
	json_t *j = bip__mj_load(v, len), *a, *e;
	struct bip_namespace ns = {0};
	size_t i;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	ns.name = bip__im_strdup(ip, name);
	if (!ns.name) {
		rc = BIP_ENOMEM;
		goto out;
	}
	if ((rc = labels_decode(ip, json_object_get(j, "labels"), &ns.labels)) != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	a = json_object_get(j, "pools");
	if (a && (!json_is_array(a) || json_array_size(a) > NS_MAX_POOLS))
		goto out;
	if (a) {
		ns.pools = bip__im_calloc(ip, json_array_size(a), sizeof(char *));
		if (!ns.pools) {
			rc = BIP_ENOMEM;
			goto out;
		}
	}
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e))
			goto out;
		ns.pools[i] = bip__im_strdup(ip, json_string_value(e));
		if (!ns.pools[i]) {
			rc = BIP_ENOMEM;
			goto out;
		}
		ns.npools++;
	}
	*out = ns;
	memset(&ns, 0, sizeof(ns));
	rc = BIP_OK;
out:
	bip_namespace_clear(&ns);
	json_decref(j);
	return rc;
}

char *bip__namespace_encode(struct bip_ipam *ip, const struct bip_namespace *ns, size_t *len)
{
	json_t *j = json_object(), *pools = json_array(), *labels = labels_encode(&ns->labels);
	int bad = !j || !pools || !labels;

	for (size_t i = 0; !bad && i < ns->npools; i++)
		bad |= json_array_append_new(pools, json_string(ns->pools[i]));
	if (bad) {
		json_decref(j);
		json_decref(pools);
		json_decref(labels);
		return NULL;
	}
	json_object_set_new(j, "labels", labels);
	json_object_set_new(j, "pools", pools);
	return bip__mj_dump(ip, j, len);
}

/* --- any record ------------------------------------------------------------------------- */

/* Any record, decoded. */
union any_rec {
	struct blk *b;
	struct bip_handle_info h;
	struct bip_pool p;
	struct bip_config c;
	struct bip_reservation r;
	struct bip_node n;
	struct bip_namespace ns;
	enum aff_state st;
};

static int rec_decode(struct bip_ipam *ip, enum rec_kind k, const char *name,
		      const unsigned char *v, size_t len, union any_rec *u)
{
	switch (k) {
	case REC_BLOCK:
		return bip__blk_decode(ip, NULL, v, len, 1, &u->b);
	case REC_HANDLE:
		return bip__handle_decode(ip, name, v, len, &u->h);
	case REC_POOL:
		return bip__pool_decode(ip, name, v, len, &u->p);
	case REC_CONFIG:
		return bip__config_decode(ip, v, len, &u->c);
	case REC_RESERVATION:
		return bip__reservation_decode(ip, name, v, len, &u->r);
	case REC_NODE:
		return bip__node_decode(ip, name, v, len, &u->n);
	case REC_NAMESPACE:
		return bip__namespace_decode(ip, name, v, len, &u->ns);
	case REC_AFFINITY:
		return bip__affinity_decode(v, len, &u->st, NULL, NULL);
	}
	return BIP_EINVAL;
}

static char *rec_encode(struct bip_ipam *ip, enum rec_kind k, const union any_rec *u, size_t *n)
{
	char *enc = NULL;

	switch (k) {
	case REC_BLOCK:
		return bip__blk_encode(ip, u->b, n);
	case REC_HANDLE:
		return bip__handle_encode(ip, &u->h, n);
	case REC_POOL:
		return bip__pool_encode(ip, &u->p, n);
	case REC_CONFIG:
		return bip__config_encode(ip, &u->c, n);
	case REC_RESERVATION:
		return bip__reservation_encode(ip, &u->r, n);
	case REC_NODE:
		return bip__node_encode(ip, &u->n, n);
	case REC_NAMESPACE:
		return bip__namespace_encode(ip, &u->ns, n);
	case REC_AFFINITY:
		enc = bip__im_strdup(ip, bip__affinity_value(u->st));
		*n = enc ? strlen(enc) : 0;
		break;
	}
	return enc;
}

static void rec_clear(enum rec_kind k, union any_rec *u)
{
	switch (k) {
	case REC_BLOCK:
		bip__blk_free(u->b);
		break;
	case REC_HANDLE:
		bip_handle_info_clear(&u->h);
		break;
	case REC_POOL:
		bip_pool_clear(&u->p);
		break;
	case REC_RESERVATION:
		bip_reservation_clear(&u->r);
		break;
	case REC_NODE:
		bip_node_clear(&u->n);
		break;
	case REC_NAMESPACE:
		bip_namespace_clear(&u->ns);
		break;
	default:
		break;
	}
}

int bip__record_reencode(struct bip_ipam *ip, enum rec_kind k, const char *name,
			 const unsigned char *v, size_t len, char **out, size_t *outlen,
			 void (*inspect)(void *ctx, enum rec_kind k, const void *rec), void *ctx)
{
	union any_rec u;
	size_t n = 0;
	char *enc = NULL;
	int rc;

	if ((unsigned)k > REC_AFFINITY)
		return BIP_EINVAL;
	memset(&u, 0, sizeof(u));
	rc = rec_decode(ip, k, name, v, len, &u);
	if (rc == BIP_OK && inspect)
		inspect(ctx, k, k == REC_BLOCK ? (const void *)u.b : (const void *)&u);
	if (rc == BIP_OK) {
		enc = rec_encode(ip, k, &u, &n);
		if (!enc)
			rc = BIP_ENOMEM;
	}
	rec_clear(k, &u);
	*out = enc;
	if (outlen)
		*outlen = n;
	return rc;
}
