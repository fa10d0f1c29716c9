/*
 * The JSON helpers the record codecs (lib/model.c, lib/model_block.c) share. Private to them.
 */
#ifndef BIP_LIB_MODEL_INT_H
#define BIP_LIB_MODEL_INT_H

#include "internal.h"

/* How every record is written: compact, ASCII only. */
#define JFLAGS (JSON_COMPACT | JSON_ENSURE_ASCII)

char *bip__mj_dump(struct bip_ipam *ip, json_t *j, size_t *len);
json_t *bip__mj_load(const unsigned char *v, size_t len);
int bip__mj_get_str(struct bip_ipam *ip, json_t *o, const char *k, char **out, bool required);
int bip__mj_get_int(json_t *o, const char *k, int64_t *out, int64_t min, int64_t max);
int bip__mj_get_bool(json_t *o, const char *k, bool *out, bool dflt);
int bip__mj_set_str(json_t *o, const char *k, const char *s);

#endif
