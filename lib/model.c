/*
 * Codecs of the stored records: JSON in the store (readable with sqlite3 or etcdctl), strict
 * decoders (a store may hold garbage: every field is type- and range-checked, and a record that
 * breaks an invariant is BIP_ECORRUPT, never a crash), compact encoders.
 *
 * A block is {"cidr","node","claimed","emptySince","alloc":[[ordinal,handle(,holder)]...],
 * "freed":[ordinal...]}: one entry per allocated address, the holder only when it is not the
 * block's node (a borrowed address); "freed" lists released ordinals oldest first, so the
 * allocator reuses the longest-free address last of all free ones after never-used ones.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define JFLAGS (JSON_COMPACT | JSON_ENSURE_ASCII)

static char *dump(struct bip_ipam *ip, json_t *j, size_t *len)
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

static json_t *load(const unsigned char *v, size_t len)
{
	json_error_t e;

	return json_loadb((const char *)v, len, JSON_REJECT_DUPLICATES, &e);
}

/* Optional string field: absent or null → *out NULL; wrong type → error. */
static int get_str(struct bip_ipam *ip, json_t *o, const char *k, char **out, bool required)
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

static int get_int(json_t *o, const char *k, int64_t *out, int64_t min, int64_t max)
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

static int get_bool(json_t *o, const char *k, bool *out, bool dflt)
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

static int set_str(json_t *o, const char *k, const char *s)
{
	json_t *v;

	if (!s)
		return 0;
	v = json_string(s);
	if (!v)
		return -1;
	return json_object_set_new(o, k, v);
}

/* --- blocks ----------------------------------------------------------------------------- */

static void blk_free_slots(struct blk *b)
{
	if (b->handle)
		for (uint32_t i = 0; i < b->size; i++)
			free(b->handle[i]);
	if (b->holder)
		for (uint32_t i = 0; i < b->size; i++)
			free(b->holder[i]);
	free(b->handle);
	free(b->holder);
	free(b->freed);
	free(b->freed_at);
	free(b->inq);
}

void bip__blk_free(struct blk *b)
{
	if (!b)
		return;
	blk_free_slots(b);
	free(b->node);
	free(b);
}

static struct blk *blk_alloc(struct bip_ipam *ip, struct bip_prefix cidr)
{
	struct blk *b;
	unsigned host = bip_addr_bits(cidr.addr) - cidr.len;

	if (host > 16)
		return NULL;
	b = bip__im_calloc(ip, 1, sizeof(*b));
	if (!b)
		return NULL;
	b->cidr = cidr;
	b->size = 1u << host;
	b->handle = bip__im_calloc(ip, b->size, sizeof(char *));
	b->holder = bip__im_calloc(ip, b->size, sizeof(char *));
	b->freed = bip__im_calloc(ip, b->size, sizeof(uint32_t));
	b->inq = bip__im_calloc(ip, b->size, 1);
	b->freed_at = bip__im_calloc(ip, b->size, sizeof(int64_t));
	if (!b->handle || !b->holder || !b->freed || !b->inq || !b->freed_at) {
		bip__blk_free(b);
		return NULL;
	}
	return b;
}

struct blk *bip__blk_new(struct bip_ipam *ip, struct bip_prefix cidr, const char *node)
{
	struct blk *b = blk_alloc(ip, cidr);

	if (!b)
		return NULL;
	if (node) {
		b->node = bip__im_strdup(ip, node);
		if (!b->node) {
			bip__blk_free(b);
			return NULL;
		}
	}
	b->claimed = bip__now();
	b->empty_since = b->claimed;
	b->dirty = true;
	return b;
}

int bip__blk_take(struct bip_ipam *ip, struct blk *b, uint32_t o, const char *handle,
		  const char *holder)
{
	char *h, *n = NULL;

	if (o >= b->size || b->handle[o])
		return BIP_ETAKEN;
	h = bip__im_strdup(ip, handle);
	if (!h)
		return BIP_ENOMEM;
	if (holder && (!b->node || strcmp(holder, b->node) != 0)) {
		n = bip__im_strdup(ip, holder);
		if (!n) {
			free(h);
			return BIP_ENOMEM;
		}
	}
	if (b->inq[o]) {
		uint32_t j = 0;

		for (uint32_t i = 0; i < b->nfreed; i++)
			if (b->freed[i] != o)
				b->freed[j++] = b->freed[i];
		b->nfreed = j;
		b->inq[o] = 0;
		b->freed_at[o] = 0;
	}
	b->handle[o] = h;
	b->holder[o] = n;
	b->used++;
	b->empty_since = 0;
	b->dirty = true;
	return BIP_OK;
}

void bip__blk_release(struct blk *b, uint32_t o)
{
	if (o >= b->size || !b->handle[o])
		return;
	free(b->handle[o]);
	free(b->holder[o]);
	b->handle[o] = NULL;
	b->holder[o] = NULL;
	b->freed[b->nfreed++] = o;
	b->inq[o] = 1;
	b->freed_at[o] = bip__now();
	b->used--;
	if (b->used == 0)
		b->empty_since = bip__now();
	b->dirty = true;
}

int bip__blk_decode(struct bip_ipam *ip, const char *key, const unsigned char *v, size_t len,
		    int64_t rev, struct blk **out)
{
	json_t *j = load(v, len), *alloc, *freed, *e;
	struct bip_prefix cidr;
	struct blk *b = NULL;
	char *cidrs = NULL, *node = NULL;
	size_t i;
	int64_t x;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	rc = get_str(ip, j, "cidr", &cidrs, true);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (bip_prefix_parse_net(cidrs, &cidr) != BIP_OK ||
	    bip_addr_bits(cidr.addr) - cidr.len > 16)
		goto out;
	if (key) { /* the record must be the block its key names */
		char want[KEY_LEN];

		bip__key_block(want, cidr);
		if (strcmp(want, key) != 0)
			goto out;
	}
	b = blk_alloc(ip, cidr);
	if (!b) {
		rc = BIP_ENOMEM;
		goto out;
	}
	rc = get_str(ip, j, "node", &node, false);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (node && !bip__valid_name(node))
		goto out;
	b->node = node;
	node = NULL;
	if (get_bool(j, "hostLocal", &b->hostlocal, false) != BIP_OK ||
	    get_int(j, "claimed", &b->claimed, 0, INT64_MAX) != BIP_OK ||
	    get_int(j, "emptySince", &b->empty_since, 0, INT64_MAX) != BIP_OK)
		goto out;
	alloc = json_object_get(j, "alloc");
	if (alloc && !json_is_array(alloc))
		goto out;
	json_array_foreach(alloc, i, e)
	{
		json_t *jo = json_array_get(e, 0), *jh = json_array_get(e, 1),
		       *jn = json_array_get(e, 2);
		size_t n = json_array_size(e);

		if (!json_is_array(e) || n < 2 || n > 3 || !json_is_integer(jo) ||
		    !json_is_string(jh) || (jn && !json_is_string(jn)))
			goto out;
		x = json_integer_value(jo);
		if (x < 0 || x >= b->size || b->handle[x] ||
		    !bip__valid_handle(json_string_value(jh)) ||
		    (jn && !bip__valid_name(json_string_value(jn))))
			goto out;
		rc = bip__blk_take(ip, b, (uint32_t)x, json_string_value(jh),
				   jn ? json_string_value(jn) : NULL);
		if (rc != BIP_OK)
			goto out;
		rc = BIP_ECORRUPT;
	}
	freed = json_object_get(j, "freed");
	if (freed && !json_is_array(freed))
		goto out;
	json_array_foreach(freed, i, e)
	{
		if (!json_is_integer(e))
			goto out;
		x = json_integer_value(e);
		if (x < 0 || x >= b->size || b->handle[x] || b->inq[x])
			goto out;
		b->freed[b->nfreed++] = (uint32_t)x;
		b->inq[x] = 1;
	}
	/* "cool": [[ordinal, unix seconds of its release], ...] for recently freed ordinals */
	freed = json_object_get(j, "cool");
	if (freed && !json_is_array(freed))
		goto out;
	json_array_foreach(freed, i, e)
	{
		json_t *jo = json_array_get(e, 0), *jt = json_array_get(e, 1);

		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(jo) ||
		    !json_is_integer(jt))
			goto out;
		x = json_integer_value(jo);
		if (x < 0 || x >= b->size || !b->inq[x] || b->freed_at[x] ||
		    json_integer_value(jt) <= 0)
			goto out;
		b->freed_at[x] = json_integer_value(jt);
	}
	b->rev = rev;
	b->dirty = false;
	*out = b;
	b = NULL;
	rc = BIP_OK;
out:
	free(cidrs);
	free(node);
	bip__blk_free(b);
	json_decref(j);
	return rc;
}

char *bip__blk_encode(struct bip_ipam *ip, const struct blk *b, size_t *len)
{
	char buf[BIP_PREFIX_STRLEN];
	json_t *j = json_object(), *alloc = json_array(), *freed = json_array();
	json_t *cool = json_array();
	int64_t now = bip__now();
	int bad = !j || !alloc || !freed || !cool;

	bad |= set_str(j, "cidr", bip_prefix_fmt(b->cidr, buf));
	bad |= set_str(j, "node", b->node);
	bad |= json_object_set_new(j, "claimed", json_integer(b->claimed));
	if (b->hostlocal)
		bad |= json_object_set_new(j, "hostLocal", json_true());
	if (b->empty_since)
		bad |= json_object_set_new(j, "emptySince", json_integer(b->empty_since));
	for (uint32_t o = 0; !bad && o < b->size; o++) {
		json_t *e;

		if (!b->handle[o])
			continue;
		e = b->holder[o] ? json_pack("[iss]", (json_int_t)o, b->handle[o], b->holder[o])
				 : json_pack("[is]", (json_int_t)o, b->handle[o]);
		bad |= json_array_append_new(alloc, e);
	}
	for (uint32_t i = 0; !bad && i < b->nfreed; i++) {
		uint32_t o = b->freed[i];
		int64_t t = b->freed_at[o];

		bad |= json_array_append_new(freed, json_integer(o));
		/* Release times matter for BIP_COOLDOWN_MAX seconds; older ones are dropped (a
		 * time ahead of the clock is kept as long, then dropped too). */
		if (t && t > now - BIP_COOLDOWN_MAX && t < now + BIP_COOLDOWN_MAX)
			bad |= json_array_append_new(
			    cool, json_pack("[II]", (json_int_t)o, (json_int_t)t));
	}
	if (bad) {
		json_decref(j);
		json_decref(alloc);
		json_decref(freed);
		json_decref(cool);
		return NULL;
	}
	json_object_set_new(j, "alloc", alloc);
	if (b->nfreed)
		json_object_set_new(j, "freed", freed);
	else
		json_decref(freed);
	if (json_array_size(cool))
		json_object_set_new(j, "cool", cool);
	else
		json_decref(cool);
	return dump(ip, j, len);
}

/* --- handles ---------------------------------------------------------------------------- */

int bip__handle_decode(struct bip_ipam *ip, const char *id, const unsigned char *v, size_t len,
		       struct bip_handle_info *out)
{
	json_t *j = load(v, len), *ips, *e;
	struct bip_handle_info h = {0};
	size_t i;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	h.id = bip__im_strdup(ip, id);
	if (!h.id) {
		rc = BIP_ENOMEM;
		goto out;
	}
	if ((rc = get_str(ip, j, "node", &h.node, false)) != BIP_OK ||
	    (rc = get_str(ip, j, "namespace", &h.namespace, false)) != BIP_OK ||
	    (rc = get_str(ip, j, "pod", &h.pod, false)) != BIP_OK ||
	    (rc = get_str(ip, j, "container", &h.container, false)) != BIP_OK ||
	    (rc = get_str(ip, j, "ifname", &h.ifname, false)) != BIP_OK ||
	    (rc = get_str(ip, j, "podUID", &h.pod_uid, false)) != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (get_int(j, "time", &h.time, 0, INT64_MAX) != BIP_OK)
		goto out;
	ips = json_object_get(j, "ips");
	if (!json_is_array(ips) || json_array_size(ips) > HANDLE_MAX_ADDRS)
		goto out;
	h.addrs = bip__im_calloc(ip, json_array_size(ips), sizeof(*h.addrs));
	if (!h.addrs) {
		rc = BIP_ENOMEM;
		goto out;
	}
	json_array_foreach(ips, i, e)
	{
		struct bip_prefix p;

		if (!json_is_string(e) || bip_prefix_parse(json_string_value(e), &p) != BIP_OK ||
		    bip_addr_bits(p.addr) - p.len > 16)
			goto out;
		h.addrs[h.naddrs++] = p;
	}
	if (!h.container && h.ifname) {
		/* "<network>.<container>.<ifname>": the container is not stored twice. */
		size_t n = strlen(id), ni = strlen(h.ifname);
		const char *dot = strchr(id, '.');

		if (dot && n > ni + 1 && (size_t)(dot - id) + 1 < n - ni - 1 &&
		    id[n - ni - 1] == '.' && strcmp(id + n - ni, h.ifname) == 0) {
			size_t cn = n - ni - 1 - (size_t)(dot - id) - 1;

			h.container = bip__im_malloc(ip, cn + 1);
			if (!h.container) {
				rc = BIP_ENOMEM;
				goto out;
			}
			memcpy(h.container, dot + 1, cn);
			h.container[cn] = '\0';
		}
	}
	*out = h;
	memset(&h, 0, sizeof(h));
	rc = BIP_OK;
out:
	bip_handle_info_clear(&h);
	json_decref(j);
	return rc;
}

/* Whether id is "<network>.<container>.<ifname>", so the container need not be stored. */
static bool container_derivable(const struct bip_handle_info *h)
{
	size_t n, nc, ni;
	const char *dot;

	if (!h->id || !h->container || !h->ifname)
		return false;
	n = strlen(h->id);
	nc = strlen(h->container);
	ni = strlen(h->ifname);
	dot = strchr(h->id, '.');
	return dot && n == (size_t)(dot - h->id) + 1 + nc + 1 + ni &&
	       strncmp(dot + 1, h->container, nc) == 0 && dot[1 + nc] == '.' &&
	       strcmp(dot + 2 + nc, h->ifname) == 0;
}

char *bip__handle_encode(struct bip_ipam *ip, const struct bip_handle_info *h, size_t *len)
{
	json_t *j = json_object(), *ips = json_array();
	int bad = !j || !ips;

	for (size_t i = 0; !bad && i < h->naddrs; i++) {
		char buf[BIP_PREFIX_STRLEN];

		bad |= json_array_append_new(ips, json_string(bip_prefix_fmt(h->addrs[i], buf)));
	}
	if (bad) {
		json_decref(j);
		json_decref(ips);
		return NULL;
	}
	json_object_set_new(j, "ips", ips);
	bad |= set_str(j, "node", h->node);
	bad |= set_str(j, "namespace", h->namespace);
	bad |= set_str(j, "pod", h->pod);
	bad |= set_str(j, "podUID", h->pod_uid);
	if (!container_derivable(h))
		bad |= set_str(j, "container", h->container);
	bad |= set_str(j, "ifname", h->ifname);
	bad |= json_object_set_new(j, "time", json_integer(h->time));
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return dump(ip, j, len);
}

void bip_handle_info_clear(struct bip_handle_info *h)
{
	if (!h)
		return;
	free(h->id);
	free(h->node);
	free(h->namespace);
	free(h->pod);
	free(h->container);
	free(h->ifname);
	free(h->pod_uid);
	free(h->addrs);
	memset(h, 0, sizeof(*h));
}

/* --- affinities ------------------------------------------------------------------------- */

static const char *const aff_names[] = {"pending", "confirmed", "pendingDeletion"};

int bip__affinity_decode(const unsigned char *v, size_t len, enum aff_state *st, long *nfree,
			 int64_t *empty_since)
{
	json_t *j = load(v, len), *s, *f;
	int64_t es;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	f = json_object_get(j, "free");
	if (f && (!json_is_integer(f) || json_integer_value(f) < 0 ||
		  json_integer_value(f) > (json_int_t)BLK_MAX_ORDINALS))
		goto out;
	if (get_int(j, "emptySince", &es, 0, INT64_MAX) != BIP_OK)
		goto out;
	if (nfree)
		*nfree = f ? (long)json_integer_value(f) : -1;
	if (empty_since)
		*empty_since = es;
	s = json_object_get(j, "state");
	if (!json_is_string(s))
		goto out;
	for (int i = 0; i < 3; i++)
		if (strcmp(json_string_value(s), aff_names[i]) == 0) {
			*st = (enum aff_state)i;
			rc = BIP_OK;
		}
out:
	json_decref(j);
	return rc;
}

const char *bip__affinity_value(enum aff_state st)
{
	switch (st) {
	case AFF_PENDING:
		return "{\"state\":\"pending\"}";
	case AFF_PENDING_DELETION:
		return "{\"state\":\"pendingDeletion\"}";
	default:
		return "{\"state\":\"confirmed\"}";
	}
}

char *bip__affinity_encode(struct bip_ipam *ip, uint32_t nfree, int64_t empty_since, size_t *len)
{
	if (empty_since)
		return dump(ip,
			    json_pack("{sssIsI}", "state", "confirmed", "free", (json_int_t)nfree,
				      "emptySince", (json_int_t)empty_since),
			    len);
	return dump(ip, json_pack("{sssI}", "state", "confirmed", "free", (json_int_t)nfree), len);
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
	json_t *j = load(v, len), *uses, *e, *extra;
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
	if ((rc = get_str(ip, j, "cidr", &cidr, true)) != BIP_OK ||
	    (rc = get_str(ip, j, "nodeSelector", &p.node_selector, false)) != BIP_OK ||
	    (rc = get_str(ip, j, "namespaceSelector", &p.ns_selector, false)) != BIP_OK ||
	    (rc = get_str(ip, j, "assignmentMode", &mode, false)) != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (bip_prefix_parse_net(cidr, &p.cidr) != BIP_OK)
		goto out;
	if (get_int(j, "blockSize", &x, 0, 128) != BIP_OK)
		goto out;
	p.block_len = (unsigned)x;
	if (get_int(j, "priority", &x, INT32_MIN, INT32_MAX) != BIP_OK)
		goto out;
	p.priority = (int)x;
	if (get_bool(j, "disabled", &p.disabled, false) != BIP_OK)
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

	bad |= set_str(j, "cidr", bip_prefix_fmt(p->cidr, buf));
	bad |= json_object_set_new(j, "blockSize", json_integer(p->block_len));
	if (p->disabled)
		bad |= json_object_set_new(j, "disabled", json_true());
	if (p->node_selector && *p->node_selector)
		bad |= set_str(j, "nodeSelector", p->node_selector);
	if (p->ns_selector && *p->ns_selector)
		bad |= set_str(j, "namespaceSelector", p->ns_selector);
	for (int u = 0; !bad && u < 3; u++)
		if (p->allowed_uses & (1u << u))
			bad |= json_array_append_new(uses, json_string(use_names[u]));
	if (!bad) {
		json_object_set_new(j, "allowedUses", uses);
		uses = NULL;
	}
	bad |= set_str(j, "assignmentMode", p->mode == BIP_ASSIGN_MANUAL ? "Manual" : "Automatic");
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
	return dump(ip, j, len);
}

/* --- config ----------------------------------------------------------------------------- */

int bip__config_decode(struct bip_ipam *ip, const unsigned char *v, size_t len,
		       struct bip_config *out)
{
	json_t *j = load(v, len);
	struct bip_config c;
	int64_t x;
	int rc = BIP_ECORRUPT;

	(void)ip;
	bip_config_default(&c);
	if (!j || !json_is_object(j))
		goto out;
	if (get_bool(j, "strictAffinity", &c.strict_affinity, c.strict_affinity) != BIP_OK ||
	    get_bool(j, "autoAllocateBlocks", &c.auto_allocate_blocks, c.auto_allocate_blocks) !=
		BIP_OK)
		goto out;
	if (get_int(j, "maxBlocksPerHost", &x, 0, 1000000) != BIP_OK)
		goto out;
	c.max_blocks_per_host = (unsigned)x;
	if (json_object_get(j, "emptyBlockReleaseSeconds")) {
		if (get_int(j, "emptyBlockReleaseSeconds", &x, 0, 365LL * 86400) != BIP_OK)
			goto out;
		c.empty_block_release_s = (unsigned)x;
	}
	if (get_int(j, "ipCooldownSeconds", &x, 0, BIP_COOLDOWN_MAX) != BIP_OK)
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

	return dump(ip, j, len);
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
	json_t *j = load(v, len);
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

	return a ? dump(ip, json_pack("{so}", "cidrs", a), len) : NULL;
}

/* --- nodes and namespaces --------------------------------------------------------------- */

int bip__node_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		     struct bip_node *out)
{
	json_t *j = load(v, len), *a, *e;
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
	return dump(ip, j, len);
}

int bip__namespace_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
			  struct bip_namespace *out)
{
	json_t *j = load(v, len), *a, *e;
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
	return dump(ip, j, len);
}

/* --- any record ------------------------------------------------------------------------- */

int bip__record_reencode(struct bip_ipam *ip, enum rec_kind k, const char *name,
			 const unsigned char *v, size_t len, char **out, size_t *outlen,
			 void (*inspect)(void *ctx, enum rec_kind k, const void *rec), void *ctx)
{
	union {
		struct blk *b;
		struct bip_handle_info h;
		struct bip_pool p;
		struct bip_config c;
		struct bip_reservation r;
		struct bip_node n;
		struct bip_namespace ns;
		enum aff_state st;
	} u;
	size_t n = 0;
	char *enc = NULL;
	int rc;

	memset(&u, 0, sizeof(u));
	switch (k) {
	case REC_BLOCK:
		rc = bip__blk_decode(ip, NULL, v, len, 1, &u.b);
		break;
	case REC_HANDLE:
		rc = bip__handle_decode(ip, name, v, len, &u.h);
		break;
	case REC_POOL:
		rc = bip__pool_decode(ip, name, v, len, &u.p);
		break;
	case REC_CONFIG:
		rc = bip__config_decode(ip, v, len, &u.c);
		break;
	case REC_RESERVATION:
		rc = bip__reservation_decode(ip, name, v, len, &u.r);
		break;
	case REC_NODE:
		rc = bip__node_decode(ip, name, v, len, &u.n);
		break;
	case REC_NAMESPACE:
		rc = bip__namespace_decode(ip, name, v, len, &u.ns);
		break;
	case REC_AFFINITY:
		rc = bip__affinity_decode(v, len, &u.st, NULL, NULL);
		break;
	default:
		return BIP_EINVAL;
	}
	if (rc == BIP_OK && inspect)
		inspect(ctx, k, k == REC_BLOCK ? (const void *)u.b : (const void *)&u);
	if (rc == BIP_OK) {
		switch (k) {
		case REC_BLOCK:
			enc = bip__blk_encode(ip, u.b, &n);
			break;
		case REC_HANDLE:
			enc = bip__handle_encode(ip, &u.h, &n);
			break;
		case REC_POOL:
			enc = bip__pool_encode(ip, &u.p, &n);
			break;
		case REC_CONFIG:
			enc = bip__config_encode(ip, &u.c, &n);
			break;
		case REC_RESERVATION:
			enc = bip__reservation_encode(ip, &u.r, &n);
			break;
		case REC_NODE:
			enc = bip__node_encode(ip, &u.n, &n);
			break;
		case REC_NAMESPACE:
			enc = bip__namespace_encode(ip, &u.ns, &n);
			break;
		case REC_AFFINITY:
			enc = bip__im_strdup(ip, bip__affinity_value(u.st));
			n = enc ? strlen(enc) : 0;
			break;
		}
		if (!enc)
			rc = BIP_ENOMEM;
	}
	switch (k) {
	case REC_BLOCK:
		bip__blk_free(u.b);
		break;
	case REC_HANDLE:
		bip_handle_info_clear(&u.h);
		break;
	case REC_POOL:
		bip_pool_clear(&u.p);
		break;
	case REC_RESERVATION:
		bip_reservation_clear(&u.r);
		break;
	case REC_NODE:
		bip_node_clear(&u.n);
		break;
	case REC_NAMESPACE:
		bip_namespace_clear(&u.ns);
		break;
	default:
		break;
	}
	*out = enc;
	if (outlen)
		*outlen = n;
	return rc;
}
