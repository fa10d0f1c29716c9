/*
 * ipam map: an SVG picture of each pool. One tile per block position of the pool, in address
 * order, row by row: a claimed block is drawn in its node's colour, filled from the bottom by the
 * share of its addresses in use; an unclaimed position is a pale tile. A red corner marks a block
 * with borrowed addresses (held by another node), hatching marks reserved addresses. Each pool has
 * a title line with its figures; one legend names the nodes' colours and the marks. Every tile
 * carries a <title> (block, node, use) that browsers show on hover.
 *
 * A pool with more than MAP_MAX_POSITIONS block positions (an IPv6 /64 of /122 blocks has 2^58)
 * is drawn as its claimed blocks only, in address order, and the title says so.
 *
 * The SVG is built in memory and written only when complete. Every string from the store goes
 * through xml_text(), which escapes it (names are already restricted, but a picture must never
 * become a document of someone else's making).
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "output.h"
#include "progress.h"
#include "subcommands.h"

#define MAP_MAX_POSITIONS 65536u
#define MAP_GRID_PX 1024.0 /* the grid's target width */
#define MAP_LEGEND_NODES 24
#define MAP_LEGEND_W 300.0

static const struct ctl_usage usage = {
    "ipam map", "[--pool NAME] [-f OUT.svg]",
    "Draw each pool (or only --pool NAME) as an SVG picture: one tile per block position, in\n"
    "address order; a claimed block in its node's colour, filled from the bottom by the share\n"
    "of its addresses in use; unclaimed positions pale; a red corner where addresses are\n"
    "borrowed by another node; hatching where addresses are reserved. Hovering a tile in a\n"
    "browser names the block, its node and its use. Pools of more than 65536 block positions\n"
    "(IPv6) show their claimed blocks only.\n"
    "\n"
    "Options:\n"
    "  --pool NAME       draw only this pool\n"
    "  -f, --file FILE   write the SVG to FILE (default: stdout)\n"};

/* XML-escape s onto f: the five special characters, and any control character as '?' (XML 1.0
 * cannot hold most of them even as references). */
static void xml_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
		}
	}
}

/* <text x y class>escaped printf text</text> */
static void svg_text(FILE *f, double x, double y, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void svg_text(FILE *f, double x, double y, const char *cls, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"%s\">", x, y, cls);
	if (n >= 0)
		xml_text(f, s);
	fputs("</text>\n", f);
	free(s);
}

/* A node and its colour: golden-angle hues, so neighbours in the sorted list differ most. */
struct map_node {
	const char *name;
	size_t blocks;
	char colour[8];
};

static void hsl_hex(double h, double s, double l, char out[8])
{
	double c = (1 - fabs(2 * l - 1)) * s, hp = h / 60, x = c * (1 - fabs(fmod(hp, 2) - 1));
	double r = 0, g = 0, b = 0, m = l - c / 2;

	if (hp < 1)
		r = c, g = x;
	else if (hp < 2)
		r = x, g = c;
	else if (hp < 3)
		g = c, b = x;
	else if (hp < 4)
		g = x, b = c;
	else if (hp < 5)
		r = x, b = c;
	else
		r = c, b = x;
	snprintf(out, 8, "#%02x%02x%02x", (unsigned)lround((r + m) * 255),
		 (unsigned)lround((g + m) * 255), (unsigned)lround((b + m) * 255));
}

struct map {
	struct bip_pool *pools;
	size_t npools;
	struct bip_block_info *blocks;
	size_t nblocks;
	struct bip_pool_usage *usage;
	size_t nusage;
	struct bip_reservation *res;
	size_t nres;
	struct map_node *nodes; /* sorted by name */
	size_t nnodes;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct map_node *)a)->name, ((const struct map_node *)b)->name);
}

static int cmp_node_blocks(const void *a, const void *b)
{
	const struct map_node *x = *(const struct map_node *const *)a;
	const struct map_node *y = *(const struct map_node *const *)b;

	if (x->blocks != y->blocks)
		return x->blocks > y->blocks ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct map_node *node_find(const struct map *m, const char *name)
{
	struct map_node key = {.name = name};

	if (!name)
		return NULL;
	return bsearch(&key, m->nodes, m->nnodes, sizeof(key), cmp_node);
}

/* The distinct affine nodes of the blocks, sorted, each with its colour and block count. */
static int collect_nodes(struct map *m)
{
	const char **names = malloc((m->nblocks ? m->nblocks : 1) * sizeof(*names));
	size_t n = 0;

	if (!names || !(m->nodes = calloc(m->nblocks ? m->nblocks : 1, sizeof(*m->nodes)))) {
		free(names);
		return BIP_ENOMEM;
	}
	for (size_t i = 0; i < m->nblocks; i++)
		if (m->blocks[i].node)
			names[n++] = m->blocks[i].node;
	if (n) /* qsort wants a non-NULL array even when empty */
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (m->nnodes && strcmp(m->nodes[m->nnodes - 1].name, names[i]) == 0) {
			m->nodes[m->nnodes - 1].blocks++;
			continue;
		}
		m->nodes[m->nnodes].name = names[i];
		m->nodes[m->nnodes].blocks = 1;
		hsl_hex(fmod((double)m->nnodes * 137.508, 360.0), 0.62, 0.47,
			m->nodes[m->nnodes].colour);
		m->nnodes++;
	}
	free(names);
	return BIP_OK;
}

/* What one tile shows. */
struct tile {
	const struct bip_block_info *b; /* NULL: an unclaimed position */
	struct bip_prefix cidr;
	uint64_t reserved; /* unclaimed positions: addresses reserved in it */
};

/* The grid of one pool section. */
struct grid {
	struct tile *v;
	size_t n, cols, rows;
	bool claimed_only; /* too many positions: only the claimed blocks, in order */
	bip_u128 positions;
	double tile, gap;
};

static bool in_pool(const struct bip_block_info *b, const struct bip_pool *p)
{
	if (p)
		return b->pool && strcmp(b->pool, p->name) == 0 &&
		       bip_prefix_covers(p->cidr, b->cidr);
	return !b->pool;
}

static int build_grid(const struct map *m, const struct bip_pool *p, struct grid *g)
{
	bip_u128 last = 0;
	size_t nclaimed = 0;

	for (size_t i = 0; i < m->nblocks; i++)
		nclaimed += in_pool(&m->blocks[i], p);
	if (p && bip_prefix_subcount(p->cidr, p->block_len, &last) != BIP_OK)
		return BIP_EINVAL;
	g->positions = p ? last + 1 : nclaimed;
	g->claimed_only = !p || last >= MAP_MAX_POSITIONS;
	g->n = g->claimed_only ? nclaimed : (size_t)(last + 1);
	if (!(g->v = calloc(g->n ? g->n : 1, sizeof(*g->v))))
		return BIP_ENOMEM;
	if (g->claimed_only) {
		size_t k = 0;

		for (size_t i = 0; i < m->nblocks; i++)
			if (in_pool(&m->blocks[i], p)) {
				g->v[k].b = &m->blocks[i];
				g->v[k++].cidr = m->blocks[i].cidr;
			}
	} else {
		for (size_t k = 0; k < g->n; k++)
			bip_prefix_sub(p->cidr, p->block_len, k, &g->v[k].cidr);
		for (size_t i = 0; i < m->nblocks; i++) {
			struct bip_prefix sub;
			bip_u128 idx;

			if (in_pool(&m->blocks[i], p) &&
			    bip_prefix_sub_of(p->cidr, p->block_len, m->blocks[i].cidr.addr, &sub,
					      &idx) == BIP_OK)
				g->v[idx].b = &m->blocks[i];
		}
		/* reserved addresses of unclaimed positions (claimed blocks count their own) */
		for (size_t r = 0; r < m->nres; r++) {
			for (size_t c = 0; c < m->res[r].ncidrs; c++) {
				struct bip_prefix rc = m->res[r].cidrs[c];
				unsigned bits = bip_addr_bits(rc.addr);

				if (!bip_prefix_overlaps(rc, p->cidr))
					continue;
				for (size_t k = 0; k < g->n; k++) {
					if (g->v[k].b || !bip_prefix_overlaps(rc, g->v[k].cidr))
						continue;
					g->v[k].reserved += rc.len >= p->block_len
								? (uint64_t)1 << (bits - rc.len)
								: (uint64_t)1
								      << (bits - p->block_len);
				}
			}
		}
	}
	/* about square and a power of two wide, so that rows start at round addresses (2^(2k+1)
	 * positions: 2^(k+1) columns, 2^k rows) */
	g->cols = 1;
	while (g->cols * g->cols < g->n)
		g->cols *= 2;
	g->rows = g->n ? (g->n + g->cols - 1) / g->cols : 0;
	g->tile = floor(MAP_GRID_PX / (double)g->cols);
	g->tile = g->tile > 40 ? 40 : g->tile < 6 ? 6 : g->tile;
	g->gap = g->tile >= 16 ? 2 : 1;
	return BIP_OK;
}

static const struct bip_pool_usage *usage_of(const struct map *m, const struct bip_pool *p)
{
	for (size_t i = 0; i < m->nusage; i++)
		if (p ? m->usage[i].name && strcmp(m->usage[i].name, p->name) == 0
		      : !m->usage[i].name)
			return &m->usage[i];
	return NULL;
}

static double pct(bip_u128 v, bip_u128 total)
{
	return total ? (double)((long double)v * 100.0L / (long double)total) : 0.0;
}

/* What a section's heading counts: claimed positions, borrowed addresses, distinct nodes. */
struct section_counts {
	size_t claimed, nodes;
	uint64_t borrowed;
};

static struct section_counts count_section(const struct map *m, const struct grid *g)
{
	struct section_counts c = {0};
	bool *seen = calloc(m->nnodes ? m->nnodes : 1, sizeof(*seen));

	for (size_t k = 0; k < g->n; k++) {
		const struct map_node *nd;

		if (!g->v[k].b)
			continue;
		c.claimed++;
		c.borrowed += g->v[k].b->borrowed;
		nd = node_find(m, g->v[k].b->node);
		if (seen && nd && !seen[nd - m->nodes]) {
			seen[nd - m->nodes] = true;
			c.nodes++;
		}
	}
	free(seen);
	return c;
}

/* The section's title and figures at y; returns the y below them. */
static double draw_heading(FILE *f, const struct map *m, const struct bip_pool *p,
			   const struct grid *g, double x0, double y)
{
	const struct bip_pool_usage *u = usage_of(m, p);
	bip_u128 cap = u ? u->capacity : 0, used = u ? u->used : 0, res = u ? u->reserved : 0;
	bip_u128 fr = used + res >= cap ? 0 : cap - used - res;
	struct section_counts n = count_section(m, g);
	char cidr[BIP_PREFIX_STRLEN], c1[32], c2[32], c3[32], c4[32], c5[32], p1[16], p2[16];

	if (p)
		svg_text(f, x0, y + 16, "h2", "pool %s · %s · blocks /%u%s", p->name,
			 bip_prefix_fmt(p->cidr, cidr), p->block_len,
			 p->disabled ? " · disabled" : "");
	else
		svg_text(f, x0, y + 16, "h2", "blocks outside every pool (%zu)", g->n);
	y += 22;
	svg_text(f, x0, y + 14, "fig",
		 "capacity %s · in use %s (%s) · free %s (%s) · reserved %s · borrowed %llu",
		 bip_fmt_count(cap, c1, sizeof(c1)), bip_fmt_count(used, c2, sizeof(c2)),
		 cap ? bip_fmt_pct(used, cap, p1, sizeof(p1)) : "-",
		 bip_fmt_count(fr, c3, sizeof(c3)),
		 cap ? bip_fmt_pct(fr, cap, p2, sizeof(p2)) : "-",
		 bip_fmt_count(res, c4, sizeof(c4)), (unsigned long long)n.borrowed);
	y += 18;
	if (p)
		svg_text(f, x0, y + 14, "fig", "%zu of %s block positions claimed, by %zu node%s%s",
			 n.claimed, bip_fmt_count(g->positions, c5, sizeof(c5)), n.nodes,
			 n.nodes == 1 ? "" : "s",
			 g->claimed_only ? "; too many positions to draw: claimed blocks only, in "
					   "address order"
					 : "");
	else
		svg_text(f, x0, y + 14, "fig",
			 "%zu block%s left when %s pool was deleted while in use; 'blockipamctl "
			 "ipam list' names the holders",
			 n.claimed, n.claimed == 1 ? "" : "s", n.claimed == 1 ? "its" : "their");
	return y + 26;
}

/* The free positions: one rectangle a row and a pattern, not one element per tile. */
static void draw_free(FILE *f, const struct grid *g, double x, double gy, double id)
{
	double step = g->tile;

	if (g->claimed_only || !g->n)
		return;
	fprintf(f,
		"<pattern id=\"free%.0f\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		"height=\"%.1f\" patternUnits=\"userSpaceOnUse\"><rect width=\"%.1f\" "
		"height=\"%.1f\" class=\"free\"/></pattern>\n",
		id, x, gy, step, step, step - g->gap, step - g->gap);
	for (size_t r = 0; r < g->rows; r++) {
		size_t in_row = g->n - r * g->cols < g->cols ? g->n - r * g->cols : g->cols;

		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"url(#free%.0f)\"/>\n",
			x, gy + (double)r * step, (double)in_row * step, step, id);
	}
}

/* A claimed block's tile at x, y (side w): node colour, filled by use, borrowed corner. */
static void draw_claimed(FILE *f, const struct map *m, const struct bip_block_info *b,
			 const char *bc, double x, double y, double w)
{
	const struct map_node *nd = node_find(m, b->node);
	double h = b->size ? w * (double)b->used / (double)b->size : 0;

	fputs("<title>", f);
	xml_text(f, bc);
	fputs(" node ", f);
	xml_text(f, b->node ? b->node : "(none: unowned)");
	fprintf(f,
		": %llu of %llu in use (%.1f%%), %llu borrowed by other nodes, "
		"%llu reserved</title>",
		(unsigned long long)b->used, (unsigned long long)b->size, pct(b->used, b->size),
		(unsigned long long)b->borrowed, (unsigned long long)b->reserved);
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		"class=\"%s\" fill=\"%s\"/>",
		x, y, w, w, nd ? "bg" : "orphan", nd ? nd->colour : "#555555");
	if (h > 0)
		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\"/>",
			x, y + w - h, w, h, nd ? nd->colour : "#555555");
	if (b->borrowed) {
		double c = w / 2.2 < 3 ? 3 : w / 2.2;

		fprintf(f, "<path d=\"M%.1f %.1fh%.1fv%.1fz\" class=\"borrowed\"/>", x + w - c, y,
			c, c);
	}
}

/* Tile k of the grid at x0, gy, with its row label when the row takes one. */
static void draw_tile(FILE *f, const struct map *m, const struct grid *g, size_t k, double x0,
		      double gy, size_t label_every)
{
	const struct tile *t = &g->v[k];
	double step = g->tile, w = step - g->gap;
	double x = x0 + (double)(k % g->cols) * step, ty = gy + (double)(k / g->cols) * step;
	uint64_t reserved = t->b ? t->b->reserved : t->reserved;
	char bc[BIP_PREFIX_STRLEN], a[BIP_ADDR_STRLEN];

	if (k % g->cols == 0 && (k / g->cols) % label_every == 0)
		svg_text(f, x0 - 6, ty + w / 2 + 3.5, "row", "%s",
			 bip_addr_fmt(bip_prefix_first(t->cidr), a));
	if (!t->b && !reserved)
		return;
	fputs("<g>", f);
	bip_prefix_fmt(t->cidr, bc);
	if (t->b) {
		draw_claimed(f, m, t->b, bc, x, ty, w);
	} else {
		fputs("<title>", f);
		xml_text(f, bc);
		fprintf(f, ": unclaimed, %llu reserved</title>", (unsigned long long)reserved);
	}
	if (reserved)
		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"url(#hatch)\"/>",
			x, ty, w, w);
	fputs("</g>\n", f);
}

/* One pool's section at y; returns its height. */
static double draw_section(FILE *f, const struct map *m, const struct bip_pool *p,
			   const struct grid *g, double x0, double y0, double label_w)
{
	double gy = draw_heading(f, m, p, g, x0, y0);
	size_t label_every = 1;

	while (g->tile * (double)label_every < 13)
		label_every *= 2;
	draw_free(f, g, x0 + label_w, gy, y0);
	for (size_t k = 0; k < g->n; k++)
		draw_tile(f, m, g, k, x0 + label_w, gy, label_every);
	return (gy - y0) + (double)g->rows * g->tile + 30;
}

static double draw_legend(FILE *f, const struct map *m, double x, double y)
{
	struct map_node **top = malloc((m->nnodes ? m->nnodes : 1) * sizeof(*top));
	size_t n = m->nnodes < MAP_LEGEND_NODES ? m->nnodes : MAP_LEGEND_NODES;
	double y0 = y;

	svg_text(f, x, y + 14, "h2", "legend");
	y += 26;
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" class=\"free\"/>\n", x,
		y);
	svg_text(f, x + 22, y + 11, "fig", "unclaimed block position");
	y += 20;
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" class=\"bg\" "
		"fill=\"#4477aa\"/><rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"7\" "
		"fill=\"#4477aa\"/>\n",
		x, y, x, y + 7);
	svg_text(f, x + 22, y + 11, "fig", "claimed block, filled by use (here half)");
	y += 20;
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" class=\"orphan\" "
		"fill=\"#555555\"/>\n",
		x, y);
	svg_text(f, x + 22, y + 11, "fig", "block without a node (unowned)");
	y += 20;
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" class=\"bg\" "
		"fill=\"#888888\"/><path d=\"M%.1f %.1fh7v7z\" class=\"borrowed\"/>\n",
		x, y, x + 7, y);
	svg_text(f, x + 22, y + 11, "fig", "addresses borrowed by another node");
	y += 20;
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" class=\"free\"/><rect "
		"x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"url(#hatch)\"/>\n",
		x, y, x, y);
	svg_text(f, x + 22, y + 11, "fig", "reserved addresses");
	y += 30;
	svg_text(f, x, y + 14, "h2", "nodes (%zu)", m->nnodes);
	y += 24;
	if (top) {
		for (size_t i = 0; i < m->nnodes; i++)
			top[i] = &m->nodes[i];
		if (m->nnodes) /* qsort wants a non-NULL array even when empty */
			qsort(top, m->nnodes, sizeof(*top), cmp_node_blocks);
		for (size_t i = 0; i < n; i++) {
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" "
				"fill=\"%s\"/>\n",
				x, y, top[i]->colour);
			svg_text(f, x + 22, y + 11, "fig", "%s  (%zu block%s)", top[i]->name,
				 top[i]->blocks, top[i]->blocks == 1 ? "" : "s");
			y += 18;
		}
		if (m->nnodes > n) {
			svg_text(f, x, y + 11, "fig", "and %zu more nodes", m->nnodes - n);
			y += 18;
		}
	}
	free(top);
	return y - y0;
}

static const char svg_style[] =
    "<style>\n"
    "text{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;fill:#222}\n"
    ".h1{font-size:20px;font-weight:bold}\n"
    ".h2{font-size:15px;font-weight:bold}\n"
    ".fig{font-size:12px}\n"
    ".row{font-size:10px;font-family:DejaVu Sans Mono,monospace;text-anchor:end;fill:#555}\n"
    ".free{fill:#e8e8e8}\n"
    ".bg{fill-opacity:0.28}\n"
    ".orphan{fill-opacity:0.6}\n"
    ".borrowed{fill:#e00000}\n"
    "</style>\n"
    "<defs><pattern id=\"hatch\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" "
    "patternTransform=\"rotate(45)\"><rect width=\"1.6\" height=\"4\" fill=\"#000000\" "
    "fill-opacity=\"0.75\"/></pattern></defs>\n";

/* The whole picture into f. */
static int render(FILE *f, const struct map *m, const struct bip_pool *only)
{
	size_t nsec = (only ? 1 : m->npools) + 1, k = 0;
	struct grid *grids = calloc(nsec, sizeof(*grids));
	const struct bip_pool **secs = calloc(nsec, sizeof(*secs));
	double width = 0, height = 0, y, legend_x, lh, *label_w = NULL;
	char now[32];
	size_t orphans = 0;
	int rc = BIP_ENOMEM;
	char *body = NULL;
	size_t blen = 0;
	FILE *b = NULL;

	if (!grids || !secs || !(b = open_memstream(&body, &blen)))
		goto out;
	for (size_t i = 0; i < m->npools; i++)
		if (!only || &m->pools[i] == only)
			secs[k++] = &m->pools[i];
	for (size_t i = 0; !only && i < m->nblocks; i++)
		orphans += !m->blocks[i].pool;
	if (orphans)
		secs[k++] = NULL;
	nsec = k;
	if (!(label_w = calloc(nsec ? nsec : 1, sizeof(*label_w))))
		goto out;
	for (size_t i = 0; i < nsec; i++) {
		int fam = secs[i] ? secs[i]->cidr.addr.family : 4;

		if ((rc = build_grid(m, secs[i], &grids[i])) != BIP_OK)
			goto out;
		for (size_t j = 0; j < grids[i].n; j++)
			fam = grids[i].v[j].cidr.addr.family == 6 ? 6 : fam;
		/* room for the widest row label: 15 or 39 characters of 6 px */
		label_w[i] = fam == 6 ? 250 : 100;
	}
	rc = BIP_ENOMEM;
	y = 70;
	for (size_t i = 0; i < nsec; i++) {
		double w = label_w[i] + (double)grids[i].cols * grids[i].tile;

		width = w > width ? w : width;
		y += draw_section(b, m, secs[i], &grids[i], 20, y, label_w[i]);
	}
	if (!nsec) {
		svg_text(b, 20, y + 14, "fig", "%s", only ? "" : "no pools and no blocks");
		y += 30;
	}
	width = width < 560 ? 560 : width;
	legend_x = 20 + width + 40;
	lh = draw_legend(b, m, legend_x, 70);
	height = (y > 70 + lh ? y : 70 + lh) + 10;
	width = legend_x + MAP_LEGEND_W;
	if (fclose(b) != 0) {
		b = NULL;
		rc = BIP_ENOMEM;
		goto out;
	}
	b = NULL;
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
		"height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
		width, height, width, height);
	fputs(svg_style, f);
	fprintf(f, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", width, height);
	svg_text(f, 20, 32, "h1", "blockipam: %s", only ? "one pool" : "IP pools");
	svg_text(f, 20, 52, "fig", "%zu pool%s, %zu blocks claimed, %zu nodes · %s", m->npools,
		 m->npools == 1 ? "" : "s", m->nblocks, m->nnodes,
		 bip_fmt_time((int64_t)time(NULL), now, sizeof(now)));
	fwrite(body, 1, blen, f);
	fputs("</svg>\n", f);
	rc = ferror(f) ? BIP_EIO : BIP_OK;
out:
	if (b)
		fclose(b);
	free(body);
	for (size_t i = 0; grids && i < nsec; i++)
		free(grids[i].v);
	free(grids);
	free(secs);
	free(label_w);
	return rc;
}

static int load(struct ctl_session *s, struct map *m)
{
	int rc;

	if ((rc = bip_ipam_pool_list(s->ipam, &m->pools, &m->npools)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the pools");
		return rc;
	}
	if ((rc = bip_ipam_block_list(s->ipam, &m->blocks, &m->nblocks)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the blocks");
		return rc;
	}
	if ((rc = bip_ipam_usage(s->ipam, &m->usage, &m->nusage)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot compute the utilization");
		return rc;
	}
	if ((rc = bip_ipam_reservation_list(s->ipam, &m->res, &m->nres)) != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot list the reservations");
		return rc;
	}
	if ((rc = collect_nodes(m)) != BIP_OK)
		ctl_err("out of memory");
	return rc;
}

static void map_free(struct map *m)
{
	bip_pools_free(m->pools, m->npools);
	bip_block_infos_free(m->blocks, m->nblocks);
	bip_pool_usages_free(m->usage, m->nusage);
	bip_reservations_free(m->res, m->nres);
	free(m->nodes);
}

int ipam_map_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"pool", required_argument, NULL, 'p'},
						 {"file", required_argument, NULL, 'f'},
						 CTL_LONGOPTS};
	struct ctl_session s = {0};
	struct ctl_progress *pr;
	struct map m = {0};
	const struct bip_pool *only = NULL;
	const char *pool = NULL, *file = NULL;
	char *svg = NULL;
	size_t len = 0;
	FILE *f;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS "f:", longopts)) > 0) {
		if (c == 'p')
			pool = optarg;
		else if (c == 'f')
			file = optarg;
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	if (ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	pr = ctl_progress_start("reading the store");
	rc = load(&s, &m);
	ctl_progress_stop(pr);
	if (rc != BIP_OK)
		goto out;
	for (size_t i = 0; pool && i < m.npools; i++)
		if (strcmp(m.pools[i].name, pool) == 0)
			only = &m.pools[i];
	if (pool && !only) {
		ctl_err("pool '%s' not found (%zu pool%s in the store; see 'blockipamctl get "
			"pools')",
			pool, m.npools, m.npools == 1 ? "" : "s");
		goto out;
	}
	if (!(f = open_memstream(&svg, &len))) {
		ctl_err("out of memory");
		goto out;
	}
	rc = render(f, &m, only);
	if (fclose(f) != 0 || rc != BIP_OK) {
		ctl_err("out of memory");
		goto out;
	}
	if (ctl_write_out(file, svg, len) != CTL_EXIT_OK)
		goto out;
	ret = CTL_EXIT_OK;
out:
	free(svg);
	map_free(&m);
	ctl_close(&s);
	return ret;
}
