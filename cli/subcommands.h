/* The entry point of every blockipamctl subcommand, found through the tables in main.c,
 * ipam.c, node.c, k8s.c and store.c. Each returns an exit status (enum ctl_exit). */
#ifndef BIP_CLI_SUBCOMMANDS_H
#define BIP_CLI_SUBCOMMANDS_H

#include <stdio.h>

int apply_main(int argc, char **argv);
int create_main(int argc, char **argv);
int get_main(int argc, char **argv);
int delete_main(int argc, char **argv);
int patch_main(int argc, char **argv);
int gc_main(int argc, char **argv);
int routes_main(int argc, char **argv);
int metrics_main(int argc, char **argv);
int version_main(int argc, char **argv);
int completion_main(int argc, char **argv);

int ipam_main(int argc, char **argv);
int ipam_show_main(int argc, char **argv);
int ipam_check_main(int argc, char **argv);
int ipam_release_main(int argc, char **argv);
int ipam_split_main(int argc, char **argv);
int ipam_configure_main(int argc, char **argv);
int ipam_map_main(int argc, char **argv);
int ipam_list_main(int argc, char **argv);

int node_main(int argc, char **argv);
int node_release_main(int argc, char **argv);
int node_set_main(int argc, char **argv);

int k8s_main(int argc, char **argv);
int k8s_sync_main(int argc, char **argv);
int k8s_watch_main(int argc, char **argv);

int store_main(int argc, char **argv);
int store_migrate_main(int argc, char **argv);

/* The one line of 'blockipamctl --version' (cli/version.c). */
void ctl_print_version(FILE *f);

#endif
