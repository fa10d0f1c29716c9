/*
 * Two containers of the whole-store readers: a string -> index hash table (open addressing,
 * keys not owned) and an arena of 1 MiB chunks that never move and are freed together.
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

static uint64_t shash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int bip__smap_put(struct bip_ipam *ip, struct smap *m, const char *k, size_t v)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct smap nm = {0};

		nm.cap = m->cap ? m->cap * 2 : 1024;
		nm.keys = bip__im_calloc(ip, nm.cap, sizeof(*nm.keys));
		nm.vals = bip__im_calloc(ip, nm.cap, sizeof(*nm.vals));
		if (!nm.keys || !nm.vals) {
			free(nm.keys);
			free(nm.vals);
			return BIP_ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = shash(m->keys[i]) & (nm.cap - 1);

				while (nm.keys[j])
					j = (j + 1) & (nm.cap - 1);
				nm.keys[j] = m->keys[i];
				nm.vals[j] = m->vals[i];
			}
		nm.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = nm;
	}
	size_t j = shash(k) & (m->cap - 1);

	while (m->keys[j]) {
		if (strcmp(m->keys[j], k) == 0) {
			m->vals[j] = v;
			return BIP_OK;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->keys[j] = k;
	m->vals[j] = v;
	m->n++;
	return BIP_OK;
}

bool bip__smap_get(const struct smap *m, const char *k, size_t *v)
{
	if (!m->cap)
		return false;
	for (size_t j = shash(k) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (strcmp(m->keys[j], k) == 0) {
			*v = m->vals[j];
			return true;
		}
	return false;
}

void bip__smap_free(struct smap *m)
{
	free(m->keys);
	free(m->vals);
}

void *bip__arena_alloc(struct bip_ipam *ip, struct arena *ar, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size > ARENA_CHUNK)
		return NULL;
	if (!ar->n || ar->used + size > ARENA_CHUNK) {
		char **v = bip__im_realloc(ip, ar->chunks, (ar->n + 1) * sizeof(*v));

		if (!v)
			return NULL;
		ar->chunks = v;
		ar->chunks[ar->n] = bip__im_malloc(ip, ARENA_CHUNK);
		if (!ar->chunks[ar->n])
			return NULL;
		ar->n++;
		ar->used = 0;
	}
	ar->used += size;
	return ar->chunks[ar->n - 1] + ar->used - size;
}

void bip__arena_free(struct arena *ar)
{
	for (size_t i = 0; i < ar->n; i++)
		free(ar->chunks[i]);
	free(ar->chunks);
}
