/*
 * The character classes of HTTP/1.1 (RFC 9110 section 5.6) that the head parser and the chunked
 * decoder share. ASCII only: no <ctype.h>, which answers by the locale.
 *
 * Internal to store/etcd.
 */
#ifndef BIP_STORE_ETCD_HTTP_LEX_H
#define BIP_STORE_ETCD_HTTP_LEX_H

#include <stdbool.h>
#include <string.h>

/* tchar: a character of a token (a field name, a transfer coding) */
static inline bool bip__http_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* VCHAR or obs-text */
static inline bool bip__http_fchar(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

/* optional white space */
static inline bool bip__http_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

#endif
