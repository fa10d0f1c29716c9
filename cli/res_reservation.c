/*
 * Reservations (resource.h): spec.reservedCIDRs, CIDRs or bare addresses that no pool hands out.
 */
#include <stdlib.h>
#include <string.h>

#include "res_kind.h"

static int conv_reservation(struct bip_rd *c, const char *name, const json_t *meta,
			    const json_t *spec, struct bip_res *res)
{
	struct bip_reservation *r = &res->u.res;
	static const char *const known[] = {"reservedCIDRs", NULL};
	const struct bip_rd_fields fs = {known, NULL, NULL, NULL, NULL};
	const json_t *cidrs = NULL, *e;
	size_t i;
	int rc;

	(void)meta;
	if ((rc = bip_rd_check(c, spec, "spec", &fs)) != BIP_OK ||
	    (rc = bip_rd_strings(c, spec, "spec", "reservedCIDRs", &cidrs)) != BIP_OK)
		return rc;
	if (!cidrs || !json_array_size(cidrs))
		return bip_rd_bad(c, "spec.reservedCIDRs is missing or empty");
	r->cidrs = calloc(json_array_size(cidrs), sizeof(*r->cidrs));
	if (!r->cidrs)
		return BIP_ENOMEM;
	json_array_foreach(cidrs, i, e)
	{
		char path[64];

		snprintf(path, sizeof(path), "spec.reservedCIDRs[%zu]", i);
		if ((rc = bip_rd_cidr(c, path, json_string_value(e), true, &r->cidrs[i])) != BIP_OK)
			return rc;
		r->ncidrs = i + 1;
	}
	return bip_rd_dup(name, &r->name);
}

json_t *bip_res_reservation_json(const struct bip_reservation *r)
{
	json_t *cidrs = bip_res_prefixes_json(r->cidrs, r->ncidrs);

	if (!cidrs)
		return NULL;
	return bip_res_doc_new(BIP_RES_RESERVATION, r->name, NULL,
			       json_pack("{s:o}", "reservedCIDRs", cidrs));
}

static json_t *reservation_to_json(const struct bip_res *r)
{
	return bip_res_reservation_json(&r->u.res);
}

static const char *reservation_name(const struct bip_res *r)
{
	return r->u.res.name;
}

static void reservation_clear(struct bip_res *r)
{
	free(r->u.res.name);
	free(r->u.res.cidrs);
}

static int reservation_get(struct bip_ipam *ipam, const char *name, json_t **doc)
{
	struct bip_reservation r = {0};
	int rc;

	if ((rc = bip_ipam_reservation_get(ipam, name, &r)) == BIP_OK)
		*doc = bip_res_reservation_json(&r);
	bip_reservation_clear(&r);
	return rc;
}

static int reservation_list(struct bip_ipam *ipam, json_t *docs)
{
	struct bip_reservation *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = bip_ipam_reservation_list(ipam, &v, &n)) == BIP_OK)
		for (size_t i = 0; i < n && rc == BIP_OK; i++)
			rc = bip_res_add(docs, bip_res_reservation_json(&v[i]));
	bip_reservations_free(v, n);
	return rc;
}

static int reservation_put(struct bip_ipam *ipam, struct bip_res *r, bool create_only)
{
	(void)create_only;
	return bip_ipam_reservation_put(ipam, &r->u.res);
}

static const struct bip_res_col reservation_cols[] = {
    {"NAME", "metadata.name", false}, {"CIDRS", "spec.reservedCIDRs", false}, {NULL, NULL, false}};

const struct bip_res_kind_ops bip_res_reservation_ops = {
    .name = "Reservation",
    .word = "reservation",
    .words = {"reservation", "reservations", "ipreservation", "ipreservations"},
    .calico_kind = "IPReservation",
    .calico_words = {"ipreservation", "ipreservations"},
    .columns = reservation_cols,
    .name_of = reservation_name,
    .convert = conv_reservation,
    .to_json = reservation_to_json,
    .clear = reservation_clear,
    .get = reservation_get,
    .list = reservation_list,
    .put = reservation_put,
    .del = bip_ipam_reservation_delete,
};
