/*
 * Output: aligned tables (column widths computed from the cells), JSON and YAML of jansson values,
 * and the number and time formats the tables share.
 */
#ifndef BIP_CLI_OUTPUT_H
#define BIP_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "blockipam/addr.h"

/* Row 0 holds the headers. Cells are copied; an empty or NULL cell prints as "-". */
struct bip_table {
	size_t ncols, nrows, cap; /* nrows counts the header row */
	char **cells;
};

int bip_table_init(struct bip_table *t, size_t ncols, const char *const *headers);
/* Append one row of t->ncols cells. BIP_ENOMEM leaves the table as it was. */
int bip_table_add(struct bip_table *t, const char *const *row);
/* Columns separated by two spaces, left-aligned, no trailing blanks. */
void bip_table_print(const struct bip_table *t, FILE *f);
void bip_table_free(struct bip_table *t);

#define BIP_U128_STRLEN 40
/* Decimal text of v; buf holds BIP_U128_STRLEN bytes. Returns buf. */
char *bip_fmt_u128(bip_u128 v, char *buf);
/* "v (p%)" with one decimal, "v" when total is 0. */
char *bip_fmt_count_pct(bip_u128 v, bip_u128 total, char *buf, size_t len);
/* A JSON integer when v fits in 63 bits, else its decimal text as a string. */
json_t *bip_json_u128(bip_u128 v);
/* RFC 3339 UTC ("2024-05-01T10:00:00Z"), "-" for 0. */
char *bip_fmt_time(int64_t t, char *buf, size_t len);

/* The text of a JSON value in a table cell: strings as is, lists joined with ',', objects as
 * k=v,k=v, null as "". Returns a new string (NULL on ENOMEM). */
char *bip_cell_text(const json_t *v);

/* Print v as indented JSON, or as one YAML document. Returns BIP_OK or BIP_EIO. */
int bip_out_print(FILE *f, bool yaml, const json_t *v);

#endif
