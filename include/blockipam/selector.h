/*
 * Label selectors, the language of pools' nodeSelector and namespaceSelector (Calico's):
 *
 *   all()  has(k)  !has(k)  k == 'v'  k != 'v'  k in {'a','b'}  k not in {'a'}
 *   k contains 'v'  k starts with 'v'  k ends with 'v'
 *   a && b   a || b   !a   ( a )
 *
 * Values are quoted with single or double quotes and have no escapes. Label keys are
 * [A-Za-z0-9_./-]+ (so "kubernetes.io/os" and "topology.kubernetes.io/zone" work). Whitespace
 * (space, tab, CR, LF) separates tokens. An empty or all-whitespace selector matches everything.
 * Precedence, from loosest: ||, &&, !. As in Calico, a set may be empty or end with a comma.
 *
 * As in Calico, a missing label makes `k == 'v'`, `k in {..}`, contains, starts with and
 * ends with false, and `k != 'v'` and `k not in {..}` true.
 *
 * A selector is parsed once into a tree and evaluated many times. Parentheses may nest 100
 * deep; deeper input is refused rather than recursed into.
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
 * Parse text into a new selector, which the caller frees with bip_selector_free. On a syntax
 * error returns BIP_EINVAL and writes into err (errlen bytes, always terminated, may be NULL/0)
 * a message naming the offending text and its position, a 0-based byte offset into text:
 *
 *   unexpected 'x' at position 9 in selector "a == 'b' x"
 *
 * Text longer than BIP_SELECTOR_MAX bytes is refused (BIP_EINVAL) with a message giving the
 * length and the limit. Out of memory is BIP_ENOMEM. *out is written only on success.
 */
int bip_selector_parse(const char *text, struct bip_selector **out, char *err, size_t errlen);
/* bip_selector_free(NULL) does nothing. */
void bip_selector_free(struct bip_selector *sel);

/*
 * Evaluate against n labels (keys unique; a NULL value counts as ""). A NULL selector matches
 * everything. Does not allocate; a selector may be evaluated from several threads at once.
 */
bool bip_selector_match(const struct bip_selector *sel, const struct bip_label *labels, size_t n);

/* The label key of the i-th comparison of sel (in text order of parsing; a key may come more
 * than once) into buf: returns its length + 1, or 0 (buf "") past the last one. */
size_t bip_selector_key(const struct bip_selector *sel, size_t i, char *buf, size_t len);

/* The text sel was parsed from, unchanged (owned by sel); "" for NULL. */
const char *bip_selector_text(const struct bip_selector *sel);

#endif
