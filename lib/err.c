/* Names and texts of the error list in err.h. */
#include "blockipam/err.h"

static const char *const texts[] = {
#define BIP_ERR_TEXT(name, text) text,
    BIP_ERRNO_MAP(BIP_ERR_TEXT)
#undef BIP_ERR_TEXT
};

static const char *const names[] = {
#define BIP_ERR_NAME(name, text) #name,
    BIP_ERRNO_MAP(BIP_ERR_NAME)
#undef BIP_ERR_NAME
};

const char *bip_strerror(int err)
{
	if (err < 0 || err >= BIP_ERR__COUNT)
		return "unknown error";
	return texts[err];
}

const char *bip_errname(int err)
{
	if (err < 0 || err >= BIP_ERR__COUNT)
		return "EUNKNOWN";
	return names[err];
}
