/*
 * Codecs of the records the allocator changes on every ADD and DEL: blocks, handles and
 * affinities (the others are in model.c), with the block's in-memory form (take, release).
 *
 * A block is {"cidr","node","claimed","emptySince","alloc":[[ordinal,handle(,holder)]...],
 * "freed":[ordinal...]}: one entry per allocated address, the holder only when it is not the
 * block's node (a borrowed address); "freed" lists released ordinals oldest first, so the
 * allocator reuses the longest-free address last of all free ones after never-used ones.
 */
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

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

/* "alloc": [[ordinal, handle(, holder)], ...], one entry per allocated address. */
static int decode_alloc(struct bip_ipam *ip, struct blk *b, json_t *alloc)
{
	json_t *e;
	size_t i;

	if (alloc && !json_is_array(alloc))
		return BIP_ECORRUPT;
	json_array_foreach(alloc, i, e)
	{
		json_t *jo = json_array_get(e, 0), *jh = json_array_get(e, 1),
		       *jn = json_array_get(e, 2);
		size_t n = json_array_size(e);
		int64_t x;
		int rc;

		if (!json_is_array(e) || n < 2 || n > 3 || !json_is_integer(jo) ||
		    !json_is_string(jh) || (jn && !json_is_string(jn)))
			return BIP_ECORRUPT;
		x = json_integer_value(jo);
		if (x < 0 || x >= b->size || b->handle[x] ||
		    !bip__valid_handle(json_string_value(jh)) ||
		    (jn && !bip__valid_name(json_string_value(jn))))
			return BIP_ECORRUPT;
		rc = bip__blk_take(ip, b, (uint32_t)x, json_string_value(jh),
				   jn ? json_string_value(jn) : NULL);
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}

/* "freed": [ordinal, ...], released ordinals oldest first, each free and listed once. */
static int decode_freed(struct blk *b, json_t *freed)
{
	json_t *e;
	size_t i;

	if (freed && !json_is_array(freed))
		return BIP_ECORRUPT;
	json_array_foreach(freed, i, e)
	{
		int64_t x;

		if (!json_is_integer(e))
			return BIP_ECORRUPT;
		x = json_integer_value(e);
		if (x < 0 || x >= b->size || b->handle[x] || b->inq[x])
			return BIP_ECORRUPT;
		b->freed[b->nfreed++] = (uint32_t)x;
		b->inq[x] = 1;
	}
	return BIP_OK;
}

/* "cool": [[ordinal, unix seconds of its release], ...] for recently freed ordinals. */
static int decode_cool(struct blk *b, json_t *cool)
{
	json_t *e;
	size_t i;

	if (cool && !json_is_array(cool))
		return BIP_ECORRUPT;
	json_array_foreach(cool, i, e)
	{
		json_t *jo = json_array_get(e, 0), *jt = json_array_get(e, 1);
		int64_t x;

		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(jo) ||
		    !json_is_integer(jt))
			return BIP_ECORRUPT;
		x = json_integer_value(jo);
		if (x < 0 || x >= b->size || !b->inq[x] || b->freed_at[x] ||
		    json_integer_value(jt) <= 0)
			return BIP_ECORRUPT;
		b->freed_at[x] = json_integer_value(jt);
	}
	return BIP_OK;
}

int bip__blk_decode(struct bip_ipam *ip, const char *key, const unsigned char *v, size_t len,
		    int64_t rev, struct blk **out)
{
	json_t *j = bip__mj_load(v, len);
	struct bip_prefix cidr;
	struct blk *b = NULL;
	char *cidrs = NULL, *node = NULL;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	rc = bip__mj_get_str(ip, j, "cidr", &cidrs, true);
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
	rc = bip__mj_get_str(ip, j, "node", &node, false);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (node && !bip__valid_name(node))
		goto out;
	b->node = node;
	node = NULL;
	if (bip__mj_get_bool(j, "hostLocal", &b->hostlocal, false) != BIP_OK ||
	    bip__mj_get_int(j, "claimed", &b->claimed, 0, INT64_MAX) != BIP_OK ||
	    bip__mj_get_int(j, "emptySince", &b->empty_since, 0, INT64_MAX) != BIP_OK)
		goto out;
	rc = decode_alloc(ip, b, json_object_get(j, "alloc"));
	if (rc == BIP_OK)
		rc = decode_freed(b, json_object_get(j, "freed"));
	if (rc == BIP_OK)
		rc = decode_cool(b, json_object_get(j, "cool"));
	if (rc != BIP_OK)
		goto out;
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

	bad |= bip__mj_set_str(j, "cidr", bip_prefix_fmt(b->cidr, buf));
	bad |= bip__mj_set_str(j, "node", b->node);
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
	return bip__mj_dump(ip, j, len);
}

/* --- handles ---------------------------------------------------------------------------- */

int bip__handle_decode(struct bip_ipam *ip, const char *id, const unsigned char *v, size_t len,
		       struct bip_handle_info *out)
{
	json_t *j = bip__mj_load(v, len), *ips, *e;
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
	if ((rc = bip__mj_get_str(ip, j, "node", &h.node, false)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "namespace", &h.namespace, false)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "pod", &h.pod, false)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "container", &h.container, false)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "ifname", &h.ifname, false)) != BIP_OK ||
	    (rc = bip__mj_get_str(ip, j, "podUID", &h.pod_uid, false)) != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (bip__mj_get_int(j, "time", &h.time, 0, INT64_MAX) != BIP_OK)
		goto out;
	/* bootID and bootTime come together or not at all (records written before them) */
	e = json_object_get(j, "bootID");
	if (e) {
		const char *b = json_string_value(e);

		if (!b || strlen(b) != BIP_BOOT_ID_LEN || !bip__boot_id_valid(b) ||
		    !json_object_get(j, "bootTime") ||
		    bip__mj_get_int(j, "bootTime", &h.boot_s, 0, INT64_MAX) != BIP_OK)
			goto out;
		memcpy(h.boot_id, b, BIP_BOOT_ID_LEN + 1);
	} else if (json_object_get(j, "bootTime"))
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
	bad |= bip__mj_set_str(j, "node", h->node);
	bad |= bip__mj_set_str(j, "namespace", h->namespace);
	bad |= bip__mj_set_str(j, "pod", h->pod);
	bad |= bip__mj_set_str(j, "podUID", h->pod_uid);
	if (!container_derivable(h))
		bad |= bip__mj_set_str(j, "container", h->container);
	bad |= bip__mj_set_str(j, "ifname", h->ifname);
	bad |= json_object_set_new(j, "time", json_integer(h->time));
	if (h->boot_id[0]) {
		bad |= bip__mj_set_str(j, "bootID", h->boot_id);
		bad |= json_object_set_new(j, "bootTime", json_integer(h->boot_s));
	}
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return bip__mj_dump(ip, j, len);
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
	json_t *j = bip__mj_load(v, len), *s, *f;
	int64_t es;
	int rc = BIP_ECORRUPT;

	if (!j || !json_is_object(j))
		goto out;
	f = json_object_get(j, "free");
	if (f && (!json_is_integer(f) || json_integer_value(f) < 0 ||
		  json_integer_value(f) > (json_int_t)BLK_MAX_ORDINALS))
		goto out;
	if (bip__mj_get_int(j, "emptySince", &es, 0, INT64_MAX) != BIP_OK)
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
		return bip__mj_dump(ip,
				    json_pack("{sssIsI}", "state", "confirmed", "free",
					      (json_int_t)nfree, "emptySince",
					      (json_int_t)empty_since),
				    len);
	return bip__mj_dump(
	    ip, json_pack("{sssI}", "state", "confirmed", "free", (json_int_t)nfree), len);
}
