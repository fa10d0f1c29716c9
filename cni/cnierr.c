/*
 * The one table from blockipam error codes (err.h) to CNI error codes, and the error record the
 * plugin fills while it works. Well-known CNI codes where the spec has one (7 invalid config,
 * 5 I/O, 11 try again later); blockipam's own codes from 100 for what the spec does not name,
 * so that a runtime or an operator can tell "pool exhausted" from "address taken" without
 * reading the text. docs/cni-errors.md lists the same table; tests/test_cni.c checks both agree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cni.h"

static const unsigned codes[BIP_ERR__COUNT] = {
    [BIP_OK] = 0,
    [BIP_ENOMEM] = BIP_CNI_ETRYLATER, /* memory pressure passes; the runtime retries */
    [BIP_EINVAL] = BIP_CNI_ECONFIG,
    [BIP_EHOSTBITS] = BIP_CNI_ECONFIG,
    [BIP_ENOTFOUND] = BIP_CNI_ENOTHELD,
    [BIP_EEXIST] = BIP_CNI_EEXIST,
    [BIP_ECONFLICT] = BIP_CNI_ETRYLATER,
    [BIP_EAGAIN] = BIP_CNI_ETRYLATER,
    [BIP_EIO] = BIP_CNI_EIO,
    [BIP_ECORRUPT] = BIP_CNI_ECORRUPT,
    [BIP_ESCHEMA] = BIP_CNI_ESCHEMA,
    [BIP_EPERM] = BIP_CNI_EPERM,
    [BIP_EEXHAUSTED] = BIP_CNI_EEXHAUSTED,
    [BIP_ETAKEN] = BIP_CNI_ETAKEN,
    [BIP_ERESERVED] = BIP_CNI_ERESERVED,
    [BIP_ENOPOOL] = BIP_CNI_ENOPOOL,
    [BIP_EDISABLED] = BIP_CNI_EDISABLED,
    [BIP_EOVERLAP] = BIP_CNI_EOVERLAP,
    [BIP_EBUSY] = BIP_CNI_EBUSY,
    [BIP_EBLOCKLIMIT] = BIP_CNI_EBLOCKLIMIT,
    [BIP_EOWNER] = BIP_CNI_EOWNER,
    [BIP_ETIMEDOUT] = BIP_CNI_ETRYLATER,
    [BIP_EUNSUPPORTED] = BIP_CNI_EUNSUPPORTED,
};

unsigned bip_cni_code(int bip_err)
{
	if (bip_err < 0 || bip_err >= BIP_ERR__COUNT)
		return BIP_CNI_EINTERNAL;
	return codes[bip_err];
}

const char *bip_cni_code_text(unsigned code)
{
	switch (code) {
	case 0:
		return "success";
	case BIP_CNI_EVERSION:
		return "incompatible CNI version";
	case BIP_CNI_EFIELD:
		return "unsupported field in network configuration";
	case BIP_CNI_EUNKNOWN_CONTAINER:
		return "container unknown or does not exist";
	case BIP_CNI_EENV:
		return "invalid necessary environment variables";
	case BIP_CNI_EIO:
		return "I/O failure";
	case BIP_CNI_EDECODE:
		return "failed to decode content";
	case BIP_CNI_ECONFIG:
		return "invalid network configuration";
	case BIP_CNI_ETRYLATER:
		return "try again later";
	case BIP_CNI_EUNAVAILABLE:
		return "plugin not available";
	case BIP_CNI_EEXHAUSTED:
		return "pool exhausted";
	case BIP_CNI_ETAKEN:
		return "address already in use";
	case BIP_CNI_ERESERVED:
		return "address is reserved";
	case BIP_CNI_ENOPOOL:
		return "no usable pool";
	case BIP_CNI_EDISABLED:
		return "pool is disabled";
	case BIP_CNI_EBLOCKLIMIT:
		return "per-node block limit reached";
	case BIP_CNI_EOWNER:
		return "address owned by another handle";
	case BIP_CNI_ECORRUPT:
		return "store record corrupt";
	case BIP_CNI_ESCHEMA:
		return "store schema too new";
	case BIP_CNI_EPERM:
		return "permission denied";
	case BIP_CNI_ENOTHELD:
		return "not allocated";
	case BIP_CNI_EEXIST:
		return "already exists";
	case BIP_CNI_EOVERLAP:
		return "overlapping ranges";
	case BIP_CNI_EBUSY:
		return "resource in use";
	case BIP_CNI_EUNSUPPORTED:
		return "unsupported";
	case BIP_CNI_EINTERNAL:
		return "internal error";
	default:
		return "unknown error";
	}
}

unsigned bip_cni_errf(struct bip_cni_err *e, unsigned code, const char *fmt, ...)
{
	va_list ap;

	if (e->code)
		return e->code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

void bip_cni_err_details(struct bip_cni_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->details, sizeof(e->details), fmt, ap);
	va_end(ap);
}

unsigned bip_cni_err_lib(struct bip_cni_err *e, int bip_err, const char *detail, const char *what)
{
	unsigned code = bip_cni_code(bip_err);

	if (code == 0)
		code = BIP_CNI_EINTERNAL;
	if (!e->code && !e->details[0])
		bip_cni_err_details(e, "blockipam error %s: %s", bip_errname(bip_err),
				    bip_strerror(bip_err));
	if (detail && *detail)
		return bip_cni_errf(e, code, "%s: %s", what, detail);
	return bip_cni_errf(e, code, "%s: %s", what, bip_strerror(bip_err));
}
