/*
 * One error list for all of blockipam. The library returns these codes and never prints;
 * the binaries turn them into messages (bip_strerror) and, in the CNI plugin, into CNI
 * error codes through one table (cni/cnierr.c).
 */
#ifndef BLOCKIPAM_ERR_H
#define BLOCKIPAM_ERR_H

/* X(name, text) */
#define BIP_ERRNO_MAP(X)                                                                           \
	X(OK, "success")                                                                           \
	X(ENOMEM, "out of memory")                                                                 \
	X(EINVAL, "invalid argument")                                                              \
	X(EHOSTBITS, "host bits set in network prefix")                                            \
	X(ENOTFOUND, "not found")                                                                  \
	X(EEXIST, "already exists")                                                                \
	X(ECONFLICT, "lost a race with a concurrent change")                                       \
	X(EAGAIN, "try again later")                                                               \
	X(EIO, "store I/O error")                                                                  \
	X(ECORRUPT, "store record cannot be decoded")                                              \
	X(ESCHEMA, "store schema is newer than this program")                                      \
	X(EPERM, "permission denied")                                                              \
	X(EEXHAUSTED, "no free address")                                                           \
	X(ETAKEN, "address already in use")                                                        \
	X(ERESERVED, "address is reserved")                                                        \
	X(ENOPOOL, "no usable pool")                                                               \
	X(EDISABLED, "pool is disabled")                                                           \
	X(EOVERLAP, "overlapping ranges")                                                          \
	X(EBUSY, "resource is in use")                                                             \
	X(EBLOCKLIMIT, "per-node block limit reached")                                             \
	X(EOWNER, "address is owned by another handle")                                            \
	X(ETIMEDOUT, "timed out")                                                                  \
	X(EUNSUPPORTED, "unsupported")

enum bip_err {
#define BIP_ERR_ENUM(name, text) BIP_##name,
	BIP_ERRNO_MAP(BIP_ERR_ENUM)
#undef BIP_ERR_ENUM
	    BIP_ERR__COUNT
};

/* Static text for a code; never NULL. */
const char *bip_strerror(int err);
/* Symbolic name ("EEXHAUSTED") for a code; never NULL. */
const char *bip_errname(int err);

#endif
