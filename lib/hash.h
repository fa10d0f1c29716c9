/*
 * Containers of the whole-store readers (lib/hash.c), private to the library.
 *
 * struct smap maps strings to indexes by open addressing; it does not own its keys, which must
 * outlive it and not move (an arena's strings, say). struct arena hands out 16-byte-aligned
 * pieces of 1 MiB chunks that never move and are freed together: at 550,000 handles one
 * malloc per id and per address list would cost more than the data.
 */
#ifndef BIP_LIB_HASH_H
#define BIP_LIB_HASH_H

#include <stdbool.h>
#include <stddef.h>

struct bip_ipam;

struct smap {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

/* Insert or replace k -> v. BIP_ENOMEM leaves m as it was. */
int bip__smap_put(struct bip_ipam *ip, struct smap *m, const char *k, size_t v);
bool bip__smap_get(const struct smap *m, const char *k, size_t *v);
void bip__smap_free(struct smap *m);

struct arena {
	char **chunks;
	size_t n, used;
};

#define ARENA_CHUNK (1u << 20)

/* size bytes (at most ARENA_CHUNK), NULL when out of memory. */
void *bip__arena_alloc(struct bip_ipam *ip, struct arena *ar, size_t size);
void bip__arena_free(struct arena *ar);

#endif
