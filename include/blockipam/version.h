/* The release of blockipam (library, plugin and CLI; scripts/blockipam.pc.in says the same) and
 * the version of the store's record layout: keys under /blockipam/v1/, JSON records of that
 * layout. A layout change moves both the prefix and BIP_RECORD_VERSION. */
#ifndef BLOCKIPAM_VERSION_H
#define BLOCKIPAM_VERSION_H

#define BIP_VERSION "0.1.0"
#define BIP_RECORD_VERSION 1

/* The CNI spec versions the plugin speaks, oldest first: the plugin's version table and every
 * program that prints them (blockipamctl version) expand this one list. */
#define BIP_CNI_SPEC_VERSIONS "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"

#endif
