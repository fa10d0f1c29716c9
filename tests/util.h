/* Helpers shared by the tests: temporary stores, store dumps, raw record edits. */
#ifndef BIP_TEST_UTIL_H
#define BIP_TEST_UTIL_H

#include "blockipam/ipam.h"

/* A fresh temporary directory (removed by t_rmdir). */
char *t_tmpdir(void);
void t_rmdir(char *dir);
/* Open a SQLite store at dir/ipam.db ("sqlite://" address written to addr if non-NULL). */
struct bip_store *t_store(const char *dir, char *addr, size_t addrlen);
/* Every key and value of the store as one string (for "nothing changed" checks). */
char *t_dump(struct bip_store *s);
/* Put a raw record (test setups that break invariants on purpose). */
int t_put(struct bip_store *s, const char *key, const char *value);
int t_del(struct bip_store *s, const char *key);
/* A pool from text. */
int t_pool(struct bip_ipam *ip, const char *name, const char *cidr, unsigned block_len,
	   const char *node_selector);
struct bip_addr t_addr(const char *s);
struct bip_prefix t_prefix(const char *s);

#endif
