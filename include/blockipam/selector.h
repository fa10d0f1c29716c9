/*
 * Label selectors, the language of pools' nodeSelector and namespaceSelector (Calico's):
 *
 *   all()  has(k)  !has(k)  k == 'v'  k != 'v'  k in {'a','b'}  k not in {'a'}
 *   k contains 'v'  k starts with 'v'  k ends with 'v'
 *   a && b   a || b   !a   ( a )
 *
 * Quotes are single or double. Label keys are [A-Za-z0-9_./-]+ (so "kubernetes.io/os" and
 * "topology.kubernetes.io/zone" work). An empty selector matches everything. Precedence, from
 * loosest: ||, &&, !. A selector is parsed once into a tree and evaluated many times.
 */
#ifndef BLOCKIPAM_SELECTOR_H
#define BLOCKIPAM_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#define BIP_SELECTOR_MAX 1024

struct bip_label {
	const char *key;
	const char *value;
};

struct bip_selector;

/*
 * Parse text. On a syntax error returns BIP_EINVAL and writes a message naming the position and
 * the offending text into err, e.g. "unexpected 'x' at position 7 in \"a == 'b' x\"". Text
 * longer than BIP_SELECTOR_MAX bytes is refused with a message saying so.
 */
int bip_selector_parse(const char *text, struct bip_selector **out, char *err, size_t errlen);
void bip_selector_free(struct bip_selector *sel);

/* Evaluate against a set of labels (keys unique). A NULL selector matches everything. */
bool bip_selector_match(const struct bip_selector *sel, const struct bip_label *labels, size_t n);

/* The selector's canonical text (as parsed; owned by sel). */
const char *bip_selector_text(const struct bip_selector *sel);

#endif
