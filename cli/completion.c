/*
 * completion: shell completion for bash ('completion bash' prints the script; 'completion zsh' the
 * same for zsh's bashcompinit), and the names from the store that it offers ('completion names
 * KIND', one per line).
 *
 * The script asks the program itself for what to offer: commands from the "Commands:" list of a
 * --help, flags from the options a --help shows, so that it follows every command that is added
 * without being regenerated. Only the resource kinds are written into it. Names come from the
 * store named on the line being completed (--store), else the usual default.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "completion", "bash | zsh | names KIND",
    "bash: print the bash completion script. Load it with\n"
    "  eval \"$(blockipamctl completion bash)\"\n"
    "or save it as /usr/share/bash-completion/completions/blockipamctl. It completes\n"
    "commands, flags, output formats, resource kinds, and the names of pools, nodes,\n"
    "namespaces and reservations from the store.\n"
    "zsh: the same script for zsh, through its bashcompinit: eval \"$(blockipamctl\n"
    "completion zsh)\" in ~/.zshrc.\n"
    "names KIND: the names of the stored resources of KIND (the script's helper); for nodes\n"
    "also the nodes that own blocks without a node record.\n"};

static const char script[] =
    "# bash completion for blockipamctl: eval \"$(blockipamctl completion bash)\", or save it as\n"
    "# /usr/share/bash-completion/completions/blockipamctl. Commands and flags come from the\n"
    "# program's own --help, so they never drift from it; names from the store, through\n"
    "# 'blockipamctl completion names KIND' (with the --store on the line being completed).\n"
    "_blockipamctl_help() {\n"
    "\t\"$1\" \"${@:2}\" --help 2>/dev/null\n"
    "}\n"
    "\n"
    "# Whether a command is a group of commands (its help lists \"Commands:\").\n"
    "_blockipamctl_group() {\n"
    "\t_blockipamctl_help \"$1\" \"$2\" | grep -q '^Commands:'\n"
    "}\n"
    "\n"
    "_blockipamctl() {\n"
    "\tlocal prog=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=\n"
    "\tlocal -a cmds=() store=() pos=()\n"
    "\tlocal i w help valued group=0\n"
    "\t((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
    "\t# the words before the cursor: the command path (cmds: zsh's path is $PATH), positionals,\n"
    "\t# and --store for names\n"
    "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
    "\t\tw=${COMP_WORDS[i]}\n"
    "\t\tcase $w in\n"
    "\t\t--store)\n"
    "\t\t\tstore=(--store \"${COMP_WORDS[i + 1]}\")\n"
    "\t\t\t((i++))\n"
    "\t\t\tcontinue\n"
    "\t\t\t;;\n"
    "\t\t--store=*)\n"
    "\t\t\tstore=(\"$w\")\n"
    "\t\t\tcontinue\n"
    "\t\t\t;;\n"
    "\t\t-o | --output | -f | --file)\n"
    "\t\t\t((i++))\n"
    "\t\t\tcontinue\n"
    "\t\t\t;;\n"
    "\t\t-*)\n"
    "\t\t\t# an option with a value (\"--pool NAME\" in the help) takes the next word\n"
    "\t\t\tif [[ $w != *=* ]] && [[ \" $valued \" == *\" $w \"* ]]; then ((i++)); fi\n"
    "\t\t\tcontinue\n"
    "\t\t\t;;\n"
    "\t\tesac\n"
    "\t\tif ((${#cmds[@]} == 0)) || ((${#cmds[@]} == 1 && group)); then\n"
    "\t\t\tcmds+=(\"$w\")\n"
    "\t\t\tgroup=0\n"
    "\t\t\t((${#cmds[@]} == 1)) && _blockipamctl_group \"$prog\" \"$w\" && group=1\n"
    "\t\t\tvalued=$(_blockipamctl_help \"$prog\" \"${cmds[@]}\" |\n"
    "\t\t\t\tgrep -oE -- '--[a-z][a-z-]*( |=)[A-Z][A-Z_.]*' | sed 's/[ =].*//' | tr '\\n' ' ')\n"
    "\t\telse\n"
    "\t\t\tpos+=(\"$w\")\n"
    "\t\tfi\n"
    "\tdone\n"
    "\t# the value of an option\n"
    "\tcase $prev in\n"
    "\t-o | --output)\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"table wide json yaml\" -- \"$cur\")\n"
    "\t\treturn\n"
    "\t\t;;\n"
    "\t--store)\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"sqlite:/// etcd://\" -- \"$cur\")\n"
    "\t\treturn\n"
    "\t\t;;\n"
    "\t--pool | --node | --namespace)\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$(\"$prog\" \"${store[@]}\" completion names "
    "\"${prev#--}\" 2>/dev/null)\" -- \"$cur\")\n"
    "\t\treturn\n"
    "\t\t;;\n"
    "\t-f | --file | --report | --from-report | --live | --nodes-live | --patch-file)\n"
    "\t\tcompopt -o filenames 2>/dev/null\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
    "\t\treturn\n"
    "\t\t;;\n"
    "\tesac\n"
    "\tif [[ $prev == -* && $prev != *=* && \" $valued \" == *\" $prev \"* ]]; then\n"
    "\t\treturn # a value nobody can guess\n"
    "\tfi\n"
    "\t# a flag\n"
    "\tif [[ $cur == -* ]]; then\n"
    "\t\thelp=$(_blockipamctl_help \"$prog\" \"${cmds[@]}\")\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$(grep -oE -- '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' "
    "<<<\"$help\" | tr -d ' ,' | sort -u)\" -- \"$cur\")\n"
    "\t\treturn\n"
    "\tfi\n"
    "\t# a command, or a group's command\n"
    "\tif ((${#cmds[@]} == 0)) || ((${#cmds[@]} == 1 && group)); then\n"
    "\t\thelp=$(_blockipamctl_help \"$prog\" \"${cmds[@]}\")\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$(sed -n '/^Commands:/,/^$/s/^  "
    "\\([a-z][a-z0-9-]*\\) .*/\\1/p' <<<\"$help\") help\" -- \"$cur\")\n"
    "\t\treturn\n"
    "\tfi\n"
    "\t# positionals\n"
    "\tcase ${cmds[*]} in\n"
    "\tget | delete | patch)\n"
    "\t\tif ((${#pos[@]} == 0)); then\n"
    "\t\t\tmapfile -t COMPREPLY < <(compgen -W \"$_blockipamctl_kinds\" -- \"$cur\")\n"
    "\t\telif ((${#pos[@]} >= 1)) && [[ ${cmds[0]} != patch || ${#pos[@]} == 1 ]]; then\n"
    "\t\t\tmapfile -t COMPREPLY < <(compgen -W \"$(\"$prog\" \"${store[@]}\" completion names "
    "\"${pos[0]}\" 2>/dev/null)\" -- \"$cur\")\n"
    "\t\tfi\n"
    "\t\t;;\n"
    "\t\"node release\" | \"node set\")\n"
    "\t\t((${#pos[@]} == 0)) &&\n"
    "\t\t\tmapfile -t COMPREPLY < <(compgen -W \"$(\"$prog\" \"${store[@]}\" completion names node "
    "2>/dev/null)\" -- \"$cur\")\n"
    "\t\t;;\n"
    "\t\"ipam split\")\n"
    "\t\t((${#pos[@]} == 0)) &&\n"
    "\t\t\tmapfile -t COMPREPLY < <(compgen -W \"$(\"$prog\" \"${store[@]}\" completion names pool "
    "2>/dev/null)\" -- \"$cur\")\n"
    "\t\t;;\n"
    "\tcompletion)\n"
    "\t\t((${#pos[@]} == 0)) && mapfile -t COMPREPLY < <(compgen -W \"bash zsh names\" -- "
    "\"$cur\")\n"
    "\t\t((${#pos[@]} == 1)) && [[ ${pos[0]} == names ]] &&\n"
    "\t\t\tmapfile -t COMPREPLY < <(compgen -W \"$_blockipamctl_kinds\" -- \"$cur\")\n"
    "\t\t;;\n"
    "\thelp)\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$(_blockipamctl_help \"$prog\" | sed -n "
    "'/^Commands:/,/^$/s/^  \\([a-z][a-z0-9-]*\\) .*/\\1/p')\" -- \"$cur\")\n"
    "\t\t;;\n"
    "\tesac\n"
    "\treturn 0\n"
    "}\n"
    "complete -F _blockipamctl blockipamctl\n";

/*
 * zsh runs the bash script through its bashcompinit (compgen and complete for zsh), with the one
 * bash builtin the script uses that zsh lacks, mapfile -t NAME, as a function.
 */
static const char zsh_head[] =
    "# zsh completion for blockipamctl: eval \"$(blockipamctl completion zsh)\" in ~/.zshrc.\n"
    "# It is the bash completion, run by zsh's bashcompinit.\n"
    "(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\n"
    "autoload -U +X bashcompinit && bashcompinit\n"
    "# bash's mapfile -t NAME: one element a line of the input\n"
    "(( $+builtins[mapfile] + $+functions[mapfile] )) || mapfile() {\n"
    "\t[[ $1 == -t ]] && shift\n"
    "\tlocal __bip_line\n"
    "\teval \"$1=()\"\n"
    "\twhile IFS= read -r __bip_line; do eval \"$1+=(\\\"\\$__bip_line\\\")\"; done\n"
    "}\n";

static int print_script(bool zsh)
{
	if (zsh)
		fputs(zsh_head, stdout);
	fputs("_blockipamctl_kinds=\"", stdout);
	for (int k = 0; k < BIP_RES__COUNT; k++)
		printf("%s ", bip_res_kind_word((enum bip_res_kind)k));
	fputs("ippool ipreservation ipamconfiguration\"\n", stdout);
	fputs(script, stdout);
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int print_names(enum bip_res_kind kind)
{
	struct ctl_session s = {0};
	struct bip_block_info *blocks = NULL;
	size_t nb = 0, n = 0, i;
	const char **names = NULL;
	json_t *docs = NULL, *d;
	int ret = CTL_EXIT_ERR, rc;

	if (ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	if ((rc = bip_res_list(s.ipam, kind, &docs)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot list the %ss", bip_res_kind_word(kind));
		goto out;
	}
	if (kind == BIP_RES_NODE && (rc = bip_ipam_block_list(s.ipam, &blocks, &nb)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot list the blocks");
		goto out;
	}
	if (!(names = malloc((json_array_size(docs) + nb + 1) * sizeof(*names)))) {
		ctl_err("out of memory");
		goto out;
	}
	json_array_foreach(docs, i, d)
	{
		const char *name =
		    json_string_value(json_object_get(json_object_get(d, "metadata"), "name"));

		if (name)
			names[n++] = name;
	}
	for (i = 0; i < nb; i++)
		if (blocks[i].node)
			names[n++] = blocks[i].node;
	if (n) /* qsort wants a non-NULL array even when empty */
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			printf("%s\n", names[i]);
	ret = fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
out:
	free(names);
	bip_block_infos_free(blocks, nb);
	json_decref(docs);
	ctl_close(&s);
	return ret;
}

int completion_main(int argc, char **argv)
{
	static const struct option longopts[] = {CTL_LONGOPTS};
	enum bip_res_kind kind;
	int c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0)
		;
	if ((rc = ctl_args(&usage, c, argc, argv, 1, 2)) != CTL_CONTINUE)
		return rc;
	if ((strcmp(argv[optind], "bash") == 0 || strcmp(argv[optind], "zsh") == 0) &&
	    argc - optind == 1)
		return print_script(strcmp(argv[optind], "zsh") == 0);
	if (strcmp(argv[optind], "names") == 0 && argc - optind == 2) {
		if ((rc = ctl_kind_arg(&usage, argv[optind + 1], &kind)) != CTL_EXIT_OK)
			return rc;
		return print_names(kind);
	}
	return ctl_usage_err(&usage, "want 'bash', 'zsh' or 'names KIND', not '%s'", argv[optind]);
}
