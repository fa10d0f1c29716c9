/*
 * The private header of store/: what every backend shares and the public store.h does not
 * export. Defined in store/kv.c; included by store/store.c and the backends ("../store_int.h").
 */
#ifndef BIP_STORE_INT_H
#define BIP_STORE_INT_H

#include <stddef.h>

/* Format into err (errlen bytes, always terminated); a NULL err or errlen 0 writes nothing. */
void bip__store_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
