/*
 * Plain scalars in YAML's core schema (manifest_scalar.h): null, bool, int (decimal, 0o, 0x),
 * float, or else a string; and the quoting rule of the writer, which is wider than the reader's
 * schema because YAML 1.1 readers take "yes", "on" or "1:20" for something other than a string.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_scalar.h"

static bool is_digits(const char *s, const char *set)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

static bool is_float_text(const char *s)
{
	/* [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
	size_t digits = 0;

	if (*s == '-' || *s == '+')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.') {
		s++;
		for (; *s >= '0' && *s <= '9'; s++)
			digits++;
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};

enum manifest_plain manifest_plain_type(const char *s)
{
	const char *d = (*s == '-' || *s == '+') ? s + 1 : s;

	if (one_of(s, null_words))
		return MANIFEST_PLAIN_NULL;
	if (one_of(s, true_words) || one_of(s, false_words))
		return MANIFEST_PLAIN_BOOL;
	if (is_digits(d, "0123456789"))
		return MANIFEST_PLAIN_INT;
	if ((strncmp(s, "0o", 2) == 0 && is_digits(s + 2, "01234567")) ||
	    (strncmp(s, "0x", 2) == 0 && is_digits(s + 2, "0123456789abcdefABCDEF")))
		return MANIFEST_PLAIN_INT;
	if (is_float_text(s))
		return MANIFEST_PLAIN_FLOAT;
	return MANIFEST_PLAIN_STR;
}

json_t *manifest_resolve_plain(const char *s)
{
	long long ll;
	char *end;
	double d;

	switch (manifest_plain_type(s)) {
	case MANIFEST_PLAIN_NULL:
		return json_null();
	case MANIFEST_PLAIN_BOOL:
		return json_boolean(one_of(s, true_words));
	case MANIFEST_PLAIN_INT:
		errno = 0;
		if (strncmp(s, "0o", 2) == 0)
			ll = strtoll(s + 2, &end, 8);
		else if (strncmp(s, "0x", 2) == 0)
			ll = strtoll(s + 2, &end, 16);
		else
			ll = strtoll(s, &end, 10);
		if (errno == ERANGE || *end)
			return NULL;
		return json_integer(ll);
	case MANIFEST_PLAIN_FLOAT:
		d = strtod(s, &end);
		if (*end || !isfinite(d))
			return json_string(s); /* 1e999: not representable in JSON */
		return json_real(d);
	case MANIFEST_PLAIN_STR:
		break;
	}
	return json_string(s);
}

bool manifest_needs_quotes(const char *s)
{
	/* YAML 1.1 readers (go-yaml v2, PyYAML) take these as bools, and a leading digit may be a
	 * number, a date or a base-60 time to them; quote all of that, not only what we resolve. */
	static const char *const yaml11[] = {"y",   "Y",   "yes", "Yes", "YES", "n",  "N",
					     "no",  "No",  "NO",  "on",	 "On",	"ON", "off",
					     "Off", "OFF", "=",	  "<<",	 NULL};
	const char *d = (*s == '-' || *s == '+' || *s == '.') ? s + 1 : s;

	if (manifest_plain_type(s) != MANIFEST_PLAIN_STR || one_of(s, yaml11))
		return true;
	if (*s == '.' && *d && strchr("iInN", *d))
		return true; /* .inf, .nan */
	/* a leading digit: quote what could be a YAML 1.1 number, base-60 time or date
	 * ("1_000", "0b101", "1:20", "2024-05-01 10:00", "10.0.0.1"), not a CIDR or a word */
	return *d >= '0' && *d <= '9' &&
	       strspn(s, "0123456789_.:+-eExXoObBaAcCdDfFtTzZ ") == strlen(s);
}
