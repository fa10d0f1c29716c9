/* Helpers shared by the CNI tests: run the plugin in process, read what it printed. */
#ifndef BIP_TEST_UTIL_CNI_H
#define BIP_TEST_UTIL_CNI_H

#include <jansson.h>

/* A copy of s with every ' turned into " (so that JSON in tables stays readable). */
char *tu_dq(const char *s);
/* Run bip_cni_run with env, in (NULL = no stdin) and capture stdout into *out (malloc'd).
 * Returns the exit status. */
int tu_run(const char *const *env, const char *in, char **out);
/* The "code" of an error object, 0 when out is not one, -1 when out is not JSON. */
long tu_code(const char *out);

#endif
