#!/usr/bin/env bash
# The operator's commands, exec'd on a realistic SQLite store and their outputs parsed: the pool
# picture (ipam map: well-formed SVG, rendered by headless Chromium to a PNG that is not blank and
# shows the nodes' colours), Prometheus metrics (promtool check metrics), the allocation listing
# (ipam list, every format and filter; ipam check --show-all-ips / --show-problem-ips / --report),
# --version / version and the plugin's banner, and bash completion driven through compgen (and
# zsh's, through its bashcompinit, when zsh is installed); the README's opening and
# docs/deploy.md as a new user reads them (the two commands, the order of the sections, the
# store a cluster needs, the CNI examples' cniVersion, the manifests named and applied); and
# make demo (on a copy of the build: no compiler line, the runtime's call shown, the per-pod
# figure explained, as root a ping between two pods).
#
# The store: pools prod-v4 (10.244.0.0/20, /26 blocks), team-x (10.245.0.0/24, /28), prod-v6
# (fd00:10::/64), a reservation, 7 nodes, 635 addresses, addresses borrowed by node-7 (after
# maxBlocksPerHost=2), and one orphan block (its pool deleted while in use).
# BIP_MAP_OUT=DIR copies the picture (map.svg, map.png) there (docs/ipam-map.svg comes from it).
# Needs the built CLI, plugin and tests/helper_fill; chromium, xmllint, promtool and python3 are
# each skipped, loudly, when missing. Ends with "cli_operator: N passed, N failed, N skipped".
set -u
name=cli_operator
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
FILL=$build/tests/helper_fill
make_tmp
export BLOCKIPAM_STORE=sqlite://$tmp/ipam.db
unset BLOCKIPAM_NODE

for x in "$B" "$PLUGIN" "$FILL"; do
	if [ ! -x "$x" ]; then
		bad "no $x: build it first (make all build/tests/helper_fill)"
		finish
	fi
done

# --- the store ------------------------------------------------------------------------------------
cat >"$tmp/pools.yaml" <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: prod-v4}
spec: {cidr: 10.244.0.0/20, blockSize: 26}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: team-x}
spec: {cidr: 10.245.0.0/24, blockSize: 28}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: prod-v6}
spec: {cidr: "fd00:10::/64"}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: old}
spec: {cidr: 10.246.0.0/24}
---
apiVersion: blockipam.io/v1
kind: Reservation
metadata: {name: lb}
spec: {reservedCIDRs: [10.244.15.0/26, 10.244.3.7/32]}
---
apiVersion: blockipam.io/v1
kind: Namespace
metadata: {name: web}
YAML
setup() {
	"$B" apply -f "$tmp/pools.yaml" &&
		"$FILL" "$BLOCKIPAM_STORE" prod-v4 6 60 &&
		"$FILL" "$BLOCKIPAM_STORE" prod-v4 2 25 web 3 &&
		"$FILL" "$BLOCKIPAM_STORE" team-x 2 20 team-x 5 &&
		"$FILL" "$BLOCKIPAM_STORE" prod-v6 3 10 &&
		"$FILL" "$BLOCKIPAM_STORE" old 1 5 legacy 1 &&
		"$B" ipam configure --max-blocks-per-host=2 &&
		"$FILL" "$BLOCKIPAM_STORE" prod-v4 1 150 default 7 &&
		"$B" patch pool old --patch '{"spec":{"disabled":true}}' &&
		"$FILL" "$BLOCKIPAM_STORE" --delete-pool old # as an older release left it
}
t "store: pools, nodes, borrowed, orphan" 0 "" setup
"$B" --store "sqlite://$tmp/empty.db" apply -f - >/dev/null <<'YAML'
apiVersion: blockipam.io/v1
kind: IPAMConfig
metadata: {name: default}
spec: {}
YAML
t "store: figures" 0 "prod-v4" "$B" ipam show

# --- display ------------------------------------------------------------------------------------
t "show: IPv6 capacity readable" 0 "18.4E" "$B" ipam show && not_in "show: no 20-digit number" "18446744073709551616"
check "show: rounded, parts add up (84.7 + 13.7 + 1.6)" grep -qE '^prod-v4 .* 560 \(13\.7%\) +3471 \(84\.7%\) +65 \(1\.6%\)' "$tmp/out"
check "show: a sliver is <0.1%, not 0.0%" grep -qE '^prod-v6 .* 30 \(<0\.1%\) +18\.4E \(>99\.9%\)' "$tmp/out"
check "show: the orphan IPv4 block is IPv4, not ::/0" grep -qE '^\(no pool, IPv4\) +- +64 +5 ' "$tmp/out"
not_in "show: no ::/0" "::/0"
t "show -o json: exact numbers" 0 '"capacity": "18446744073709551616"' "$B" ipam show -o json
t "show -o wide adds columns" 0 "" "$B" ipam show -o wide
check "show -o wide: block size, disabled, assignment, selector" \
	grep -qE '^NAME .* BLOCKS +BLOCKSIZE +DISABLED +ASSIGNMENT +NODESELECTOR$' "$tmp/out"
t "show blocks" 0 "" "$B" ipam show --show-blocks
awk 'NR > 1 && $1 !~ /:/ { print $1 }' "$tmp/out" | sed 's|/.*||' >"$tmp/blocks"
check "show blocks: sorted as addresses" sort -c -t . -k1,1n -k2,2n -k3,3n -k4,4n "$tmp/blocks"
check "show blocks: 10.244.4.64 before 10.244.10.128" \
	test "$(grep -n '^10\.244\.4\.64$' "$tmp/blocks" | cut -d: -f1)" -lt "$(grep -n '^10\.244\.10\.128$' "$tmp/blocks" | cut -d: -f1)"
t "show borrowed: sorted" 0 "node-7" "$B" ipam show --show-borrowed
awk 'NR > 1 { print $1 }' "$tmp/out" >"$tmp/b"
check "show borrowed: 27 rows (22 of node-7, 5 in the orphan), in address order" bash -c "[ \$(wc -l <'$tmp/b') = 27 ] && sort -c -t . -k1,1n -k2,2n -k3,3n -k4,4n '$tmp/b'"
t "show --ip: a reserved address says so" 0 "Reservation  lb" "$B" ipam show --ip 10.244.15.3
check "show --ip: reserved, and its pool" grep -qE '^Reserved +yes$' "$tmp/out"
check "show --ip: the pool" grep -qE '^Pool +prod-v4$' "$tmp/out"
t "show --ip: outside every pool" 0 "(none: outside every pool)" "$B" ipam show --ip 1.2.3.4
t "show --ip: ADDR/LEN as ip addr prints it" 0 "10.244.15.3" "$B" ipam show --ip 10.244.15.3/26
t "node-3's address" 0 "" "$B" node set node-3 --address 192.168.1.3
t "routes: blackholes without a next hop" 0 "blackhole" "$B" routes --node node-3
check "routes: no VIA on a blackhole" bash -c "! grep -E ' blackhole .* [0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\$' '$tmp/out'"
t "routes -o json: a blackhole's via is null" 0 "" "$B" routes --node node-3 -o json
check "routes -o json: via null" bash -c "jq -e '[.routes[] | select(.kind == \"blackhole\") | .via] | all(. == null)' '$tmp/out' >/dev/null"
t "empty: no pools" 0 "No pools." "$B" --store "sqlite://$tmp/empty.db" ipam show
check "empty: nothing on stdout" test ! -s "$tmp/out"
t "empty: no routes" 0 "No routes" "$B" --store "sqlite://$tmp/empty.db" routes
t "empty: get pools says so" 0 "No pools found." "$B" --store "sqlite://$tmp/empty.db" get pools
check "empty: get pools prints no bare header" test ! -s "$tmp/out"
t "empty: get -o yaml is still an empty List" 0 "items: []" "$B" --store "sqlite://$tmp/empty.db" get ns -o yaml

# --- ipam map -------------------------------------------------------------------------------------
t "map: help" 0 "Usage: blockipamctl ipam map" "$B" ipam map --help
t "map: unknown pool" 1 "pool 'nosuch' not found" "$B" ipam map --pool nosuch
t "map: bad option" 2 "unknown option '--frob'" "$B" ipam map --frob
t "map: to a file" 0 "" "$B" ipam map -f "$tmp/map.svg"
check "map: the file is SVG" grep -q '^<svg xmlns="http://www.w3.org/2000/svg"' "$tmp/map.svg"
t "map: stdout is the same picture" 0 "</svg>" "$B" ipam map
check "map: one tile per claimed block" test "$(grep -c '<title>' "$tmp/out")" -ge \
	"$("$B" ipam show --show-blocks -o json | grep -c '"block":')"
t "map: one pool" 0 "pool team-x · 10.245.0.0/24" "$B" ipam map --pool team-x &&
	not_in "map: only that pool" "prod-v4"
check "map: borrowed marked" grep -q 'class="borrowed"/>' "$tmp/map.svg"
check "map: reserved marked" grep -q 'fill="url(#hatch)"' "$tmp/map.svg"
check "map: orphan block drawn" grep -q 'blocks outside every pool' "$tmp/map.svg"
check "map: IPv6 claimed-only" grep -q 'claimed blocks only' "$tmp/map.svg"
check "map: figures" grep -q 'block positions claimed' "$tmp/map.svg"
if command -v xmllint >/dev/null; then
	t "map: well-formed (xmllint)" 0 "" xmllint --noout "$tmp/map.svg"
else
	skip "map: well-formed" "xmllint missing (Debian libxml2-utils; scripts/deps.sh test)"
fi
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
	skip "map: rendered by Chromium" "chromium missing (Debian chromium; scripts/deps.sh test)"
elif ! command -v python3 >/dev/null; then
	skip "map: rendered by Chromium" "python3 missing (needed to read the PNG)"
else
	w=$(grep -o '<svg [^>]*' "$tmp/map.svg" | grep -o ' width="[0-9]*"' | tr -dc 0-9)
	h=$(grep -o '<svg [^>]*' "$tmp/map.svg" | grep -o ' height="[0-9]*"' | tr -dc 0-9)
	t "map: rendered by Chromium" 0 "" timeout 120 "$chromium" --headless --no-sandbox \
		--disable-gpu --hide-scrollbars --user-data-dir="$tmp/chromium" \
		--screenshot="$tmp/map.png" --window-size="$w,$h" "file://$tmp/map.svg"
	# the nodes' colours are the legend's solid squares
	mapfile -t colours < <(grep -o 'height="14" fill="#[0-9a-f]*"/>' "$tmp/map.svg" |
		grep -o '#[0-9a-f]*' | sort -u)
	stat=$(python3 "$root/tests/pngstat.py" "$tmp/map.png" "${colours[@]}")
	echo "# map.png: $stat"
	n=$(sed -n 's/.* colours=\([0-9]*\) .*/\1/p' <<<"$stat")
	nonwhite=$(sed -n 's/.* nonwhite=\([0-9]*\)\..*/\1/p' <<<"$stat")
	found=$(sed -n 's/.* found=\([0-9]*\)\/.*/\1/p' <<<"$stat")
	check "map: PNG is ${w}x$h" grep -q "^${w}x$h " <<<"$stat"
	check "map: PNG not blank (>= 20 colours, >= 10% not white)" \
		test "${n:-0}" -ge 20 -a "${nonwhite:-0}" -ge 10
	check "map: every node's colour is on the PNG" test "${found:-0}" = "${#colours[@]}" \
		-a "${#colours[@]}" -ge 7
fi
if [ -n "${BIP_MAP_OUT:-}" ]; then
	cp "$tmp/map.svg" "$BIP_MAP_OUT/map.svg"
	[ -f "$tmp/map.png" ] && cp "$tmp/map.png" "$BIP_MAP_OUT/map.png"
fi

# --- metrics --------------------------------------------------------------------------------------
t "metrics: help" 0 "Usage: blockipamctl metrics" "$B" metrics --help
if t "metrics" 0 "ipam_ippool_size{ippool=\"prod-v4\"} 4096" "$B" metrics; then
	cp "$tmp/out" "$tmp/metrics.txt"
	m() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/metrics.txt"; }
	check "metrics: reserved of prod-v4" test "$(m 'ipam_ippool_reserved{ippool="prod-v4"}')" = 65
	check "metrics: node-7 borrows 22" \
		test "$(m 'ipam_allocations_borrowed{ippool="prod-v4",node="node-7"}')" = 22
	check "metrics: node-7 holds 150" test "$(m 'ipam_allocations_per_node{node="node-7"}')" = 150
	check "metrics: node-7 has its 2 blocks" test "$(m 'ipam_blocks_per_node{node="node-7"}')" = 2
	check "metrics: team-x blocks" test "$(m 'blockipam_ippool_blocks{ippool="team-x"}')" = 4
	check "metrics: the orphan block" test "$(m 'ipam_blocks{ippool="(none)",node="(none)"}')" = 1
	check "metrics: the orphan is a problem" \
		test "$(m 'blockipam_check_problems{kind="block-outside-pools"}')" = 1
	check "metrics: healthy kinds are 0" \
		test "$(m 'blockipam_check_problems{kind="address-held-twice"}')" = 0
	total=$(awk '$1 ~ /^ipam_allocations_in_use[{]/ { s += $2 } END { print s }' "$tmp/metrics.txt")
	check "metrics: allocations add up to 635" test "$total" = 635
	check "metrics: HELP and TYPE for every family" test \
		"$(grep -c '^# HELP' "$tmp/metrics.txt")" = "$(grep -c '^# TYPE' "$tmp/metrics.txt")"
	if command -v promtool >/dev/null; then
		t "metrics: promtool check metrics" 0 "" promtool check metrics <"$tmp/metrics.txt"
	else
		skip "metrics: promtool check metrics" "promtool missing (Debian prometheus; scripts/deps.sh test)"
	fi
fi
t "metrics: --no-check" 0 "ipam_blocks" "$B" metrics --no-check && not_in "metrics: no check" "blockipam_check"
t "metrics: -f writes the file" 0 "" "$B" metrics -f "$tmp/textfile.prom"
check "metrics: the file, no .tmp left" test -s "$tmp/textfile.prom" -a ! -e "$tmp/textfile.prom.tmp"
t "metrics: unwritable file" 1 "cannot write" "$B" metrics -f "$tmp/nodir/x.prom"

# --- ipam list ------------------------------------------------------------------------------------
t "list: help" 0 "Usage: blockipamctl ipam list" "$B" ipam list --help
t "list: everything" 0 "ADDRESS" "$B" ipam list
check "list: one row per address (635)" test "$(($(wc -l <"$tmp/out") - 1))" = 635
check "list: columns" grep -qE '^ADDRESS +HANDLE +POD +NODE +BLOCK +SINCE$' "$tmp/out"
# sorted as addresses: 10.244.x before 10.245.x, and within a /26 .2 before .10
awk 'NR > 1 { print $1 }' "$tmp/out" >"$tmp/addrs"
check "list: sorted as addresses" bash -c "grep -v : '$tmp/addrs' | sort -c -t . -k1,1n -k2,2n -k3,3n -k4,4n"
t "list: --node" 0 "node-7" "$B" ipam list --node node-7
check "list: node-7 holds 150" test "$(awk 'NR > 1 && $4 == "node-7"' "$tmp/out" | wc -l)" = 150 -a \
	"$(awk 'NR > 1 && $4 != "node-7"' "$tmp/out" | wc -l)" = 0
t "list: --pool" 0 "" "$B" ipam list --pool team-x -o json
check "list: team-x has 40 in JSON" test "$(grep -c '"address":' "$tmp/out")" = 40
check "list: team-x addresses only" test "$(grep '"address":' "$tmp/out" | grep -vc '10\.245\.')" = 0
t "list: --namespace" 0 "" "$B" ipam list --namespace web -o yaml
check "list: 50 in namespace web" test "$(grep -c '^- address:' "$tmp/out")" = 50
t "list: --pod NAME" 0 "prod-v4-3-7" "$B" ipam list --pod prod-v4-3-7
check "list: --pod in two namespaces" test "$(($(wc -l <"$tmp/out") - 1))" = 2
t "list: --pod NS/NAME" 0 "web/prod-v4-3-7" "$B" ipam list --pod web/prod-v4-3-7 -o wide
check "list: one pod, one address" test "$(($(wc -l <"$tmp/out") - 1))" = 1
check "list: wide columns" grep -qE '^ADDRESS .* POOL +BLOCKOWNER +BORROWED +CONTAINER +INTERFACE$' "$tmp/out"
t "list: filters combine" 0 "" "$B" ipam list --node node-7 --pool prod-v4 --namespace default -o json
check "list: node-7's borrowed show in JSON" test "$(grep -c '"borrowed": true' "$tmp/out")" = 22
t "list: nothing matches" 0 "No allocations match." "$B" ipam list --namespace nosuch
check "list: empty stdout" test ! -s "$tmp/out"
t "list: empty JSON" 0 "[]" "$B" ipam list --pod nosuch -o json
t "list: unknown pool" 1 "pool 'nosuch' not found" "$B" ipam list --pool nosuch

# --- ipam check: calicoctl's habits ------------------------------------------------------------------
t "check: -o FILE says --report" 2 "write the report with --report report.json" \
	"$B" ipam check -o report.json
t "check: exclusive views" 2 "exclude each other" "$B" ipam check --show-all-ips --show-problem-ips
t "check: --show-all-ips" 3 "Allocated addresses (635):" "$B" ipam check --show-all-ips
check "check: every address has a status" \
	test "$(grep -cE '  (ok|[a-z-]+)$' "$tmp/out")" -ge 635
# break one allocation: drop a handle record behind the library's back
sqlite3 "$tmp/ipam.db" "delete from kv where key = 'handles/net.web-prod-v4-c3p7.eth0'"
t "check: --show-problem-ips" 3 "address-without-handle" "$B" ipam check --show-problem-ips
check "check: only the problem address" grep -q "^Addresses with problems (1):" "$tmp/out"
t "check: --report FILE" 3 "Report written to $tmp/report.json." \
	"$B" ipam check --report "$tmp/report.json" --show-problem-ips
check "check: the report is JSON with the address" \
	bash -c "jq -e '.problemCount == 2 and (.addresses | length) == 1 and .addresses[0].problem == \"address-without-handle\"' '$tmp/report.json' >/dev/null"
t "check: --report then release --from-report" 0 "" \
	"$B" ipam release --from-report "$tmp/report.json" --dry-run
t "check: -o json still works" 3 '"kind": "IPAMCheckReport"' "$B" ipam check -o json

# --- versions -------------------------------------------------------------------------------------
t "--version" 0 "blockipamctl 0." "$B" --version
check "--version: one line, the CNI versions" grep -qE '^blockipamctl [0-9.]+ .*CNI 0\.3\.0, .*1\.1\.0' "$tmp/out"
check "--version: the store is not opened" test "$(wc -l <"$tmp/out")" = 1
t "version" 0 "store: $BLOCKIPAM_STORE (SQLite), revision" "$B" version
check "version: the schema version" grep -q ', schema version 2, records v1$' "$tmp/out"
t "version -o json" 0 '"schemaVersion": 2' "$B" version -o json
check "version -o json parses" bash -c "jq -e '.client.cniVersions | index(\"1.1.0\")' '$tmp/out' >/dev/null"
t "version --client needs no store" 0 "blockipamctl" "$B" --store sqlite:///nonexistent/x.db version --client
t "version: a missing store fails" 1 "cannot open store" "$B" --store sqlite:///nonexistent/x.db version
t "help names --version" 0 "--version" "$B" --help
t "plugin: --version" 0 "CNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" \
	env -i "$PLUGIN" --version
t "plugin: no CNI environment: the banner" 0 "CNI blockipam plugin v" env -i "$PLUGIN"
check "plugin: the banner is one line on stderr" test ! -s "$tmp/out" -a "$(wc -l <"$tmp/err")" = 1
t "plugin: CNI variables without CNI_COMMAND: the JSON error" 1 '"code":4' \
	env -i CNI_CONTAINERID=x CNI_IFNAME=eth0 "$PLUGIN"

# --- bash completion, driven through the function bash would call --------------------------------
t "completion: help" 0 "Usage: blockipamctl completion" "$B" completion --help
t "completion: bad shell" 2 "want 'bash', 'zsh' or 'names KIND'" "$B" completion tcsh
t "completion: the script" 0 "complete -F _blockipamctl blockipamctl" "$B" completion bash
check "completion: the script is bash" bash -n "$tmp/out"
t "completion: names" 0 "prod-v4" "$B" completion names pool
t "completion: names of nodes include block owners" 0 "node-7" "$B" completion names node
# comp EXPECTED WORDS...: complete the last word ('' = a new word) of "blockipamctl WORDS..."
comp() {
	local want=$1
	shift
	B="$B" bash -c 'eval "$("$B" completion bash)" || exit 1
		complete -p blockipamctl | grep -q -- "-F _blockipamctl" || exit 1
		COMP_WORDS=("$B" "$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_blockipamctl
		printf "%s\n" "${COMPREPLY[@]}"' _ "$@" >"$tmp/out" 2>"$tmp/err"
	if [ "$(sort "$tmp/out" | tr '\n' ' ' | sed 's/^ *//; s/ $//')" = "$want" ]; then
		pass "completion: '$*' -> $want"
	else
		fail "completion: '$*'" "got '$(tr '\n' ' ' <"$tmp/out")', want '$want'"
	fi
	[ -n "$zsh" ] || return 0
	# zsh: as its _bash_complete calls the script (compgen -F), then matched against the word as
	# compadd does (zsh's compgen leaves that to compadd)
	B="$B" zsh -f -c 'autoload -U compinit && compinit -u -D
		eval "$("$B" completion zsh)" || exit 1
		[[ $_comps[blockipamctl] == "_bash_complete -F _blockipamctl" ]] || exit 1
		words=("$B" "$@")
		CURRENT=${#words}
		COMP_WORDS=("${words[@]}")
		COMP_CWORD=$((CURRENT - 1))
		matches=(${(f)"$(compgen -F _blockipamctl -- ${words[CURRENT]})"})
		print -l -- ${(M)matches:#${words[CURRENT]}*}' _ "$@" >"$tmp/out" 2>"$tmp/err"
	if [ "$(sort "$tmp/out" | grep -v '^$' | tr '\n' ' ' | sed 's/^ *//; s/ $//')" = "$want" ]; then
		pass "zsh completion: '$*' -> $want"
	else
		fail "zsh completion: '$*'" "got '$(tr '\n' ' ' <"$tmp/out")', want '$want'"
	fi
}
zsh=$(command -v zsh)
if [ -n "$zsh" ]; then
	t "completion: the zsh script" 0 "autoload -U +X bashcompinit && bashcompinit" "$B" completion zsh
	check "completion: the zsh script is zsh" zsh -n "$tmp/out"
else
	skip "zsh completion (every row below in zsh too)" "zsh is not installed (apt-get install zsh)"
fi
comp "ipam" ip
comp "list" ipam li
comp "map" ipam m
comp "check configure help list map release show split" ipam ''
comp "--help --namespace --node --output --pod --pool --store --store-ca-file --store-cert-file --store-key-file --store-prefix --store-timeout-ms" ipam list --
comp "prod-v4 prod-v6" ipam list --pool prod-
comp "team-x" ipam map --pool t
comp "pool" get p
comp "reservation" delete re
comp "ipamconfig ipamconfiguration ippool ipreservation" get ip
comp "prod-v4 prod-v6 team-x" get pool ''
comp "node-1" --store "$BLOCKIPAM_STORE" delete node node-1
comp "json" ipam show -o j
comp "--show-all-ips --show-problem-ips" ipam check --show
comp "--format" routes --node node-1 --f
comp "bash names zsh" completion ''
comp "node-7" node release node-7
comp "" node set node-5 --label a=b ''
comp "web" ipam list --namespace ''
comp "" ipam list --pod ''
comp "gc get" help g
comp "version" ver

# --- progress on stderr -----------------------------------------------------------------------------
t "progress: none when stderr is not a terminal" 3 "" "$B" ipam check
check "progress: stderr empty" test ! -s "$tmp/err"
t "progress: forced (BLOCKIPAM_PROGRESS=always)" 3 "checking the store... 0 s" \
	env BLOCKIPAM_PROGRESS=always "$B" ipam check
t "progress: store migrate counts keys" 0 "copying keys... " \
	env BLOCKIPAM_PROGRESS=always "$B" store migrate --from "$BLOCKIPAM_STORE" --to "sqlite://$tmp/copy.db"
check "progress: ... of N (100%)" grep -qE 'copying keys\.\.\. [0-9]+ of [0-9]+ \([0-9]+%\)' "$tmp/err"
t "progress: never" 3 "" env BLOCKIPAM_PROGRESS=never "$B" ipam check
check "progress: never draws" test ! -s "$tmp/err"
if command -v script >/dev/null; then
	t "progress: on a terminal, erased before the output" 0 "" \
		script -qec "env BLOCKIPAM_PROGRESS=always '$B' ipam show" /dev/null
	check "progress: the line is drawn and erased" grep -q $'reading the store\\.\\.\\. 0 s\r\033\\[KNAME' "$tmp/out"
else
	skip "progress: on a terminal" "script (util-linux) missing"
fi

# --- the README and docs/deploy.md, read as a new user reads them --------------------------------
readme=$root/README.md deploy=$root/docs/deploy.md
check "docs: the README's first code block is the two commands" test \
	"$(awk '/^```/ {if (on) exit; on = 1; next} on' "$readme")" = \
	"$(printf '%s\n' './scripts/deps.sh && make demo' './scripts/deps.sh test && make check')"
check "docs: what it is, the commands, then concepts, deploying, figures" test \
	"$(grep -E '^## ' "$readme" | head -n 3 | tr '\n' '|')" = "## Concepts|## Deploying|## Figures|"
check "docs: the README links docs/deploy.md" grep -qF '[docs/deploy.md](docs/deploy.md)' "$readme"
check "docs: SQLite serves one host, a cluster needs etcd (README)" \
	grep -qF 'The embedded SQLite store serves one host; a cluster needs etcd.' "$readme"
check "docs: and deploy.md" grep -qF 'A cluster needs etcd' "$deploy"
# every JSON example parses and declares a cniVersion: 1.1.0, or 1.0.0 with the reason beside it
docs_json() { awk '/^ *```json$/ {on = 1; next} on && /^ *```$/ {on = 0; print "\036"; next} on' "$@"; }
n=0 badv=""
while IFS= read -r -d $'\036' j; do
	[ -n "${j//[[:space:]]/}" ] || continue
	n=$((n + 1))
	v=$(jq -r .cniVersion <<<"$j" 2>/dev/null) || { badv="$badv [not JSON: ${j:0:40}]"; continue; }
	[ "$v" = 1.1.0 ] || [ "$v" = 1.0.0 ] || badv="$badv [$v]"
done < <(docs_json "$readme" "$deploy" "$root/docs/cni.md")
check "docs: $n CNI examples parse and declare cniVersion$badv" test -z "$badv" -a "$n" -ge 3
check "docs: the README's and cni.md's declare 1.1.0" test \
	"$(docs_json "$readme" "$root/docs/cni.md" | tr '\036' '\n' | grep -c '"cniVersion": "1.1.0"')" = 2
check "docs: deploy.md's 1.0.0 one says why" grep -qF 'declares `cniVersion` 1.0.0 rather than 1.1.0' "$deploy"
missing=""
for f in $(grep -oE '[0-9]{2}-[a-z-]+(\.example)?\.yaml' "$deploy" | sort -u); do
	[ -f "$root/deploy/kubernetes/$f" ] || missing="$missing $f"
done
check "docs: every manifest deploy.md names is in deploy/kubernetes/${missing:+ (missing:$missing)}" \
	test -z "$missing"
# the manifests deploy.md applies, applied (on a store of their own)
awk '/blockipamctl apply -f - <<.EOF.$/ {on = 1; print "---"; next} on && /^ *EOF$/ {on = 0; next}
	on {sub(/^   /, ""); print}' "$deploy" >"$tmp/deploy-docs.yaml"
t "docs: deploy.md's manifests apply" 0 "pool/default-ipv4 created" \
	"$B" --store "sqlite://$tmp/deploy-docs.db" apply -f "$tmp/deploy-docs.yaml"

# --- the demo (make demo): a quiet build, the runtime's call, its figure explained, a ping --------
# On a copy of the build with the plugin and the CLI removed, so that make links them again:
# the linker's notes on the static plugin must stay in the log, not reach the demo's reader.
# Only on the default build: a sanitizer build (make san) is another configuration of make.
if [ "$build" != "$root/build" ]; then
	skip "demo: make demo" "checked on the default build only, not $build"
elif cp -a "$build" "$tmp/demo-build" 2>"$tmp/err" && rm -f "$tmp/demo-build/blockipam" "$tmp/demo-build/blockipamctl"; then
	t "demo: make demo" 0 "== Done. The store is" env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS \
		make -C "$root" --no-print-directory demo BUILD="$tmp/demo-build"
	cat "$tmp/out" "$tmp/err" >"$tmp/demo.out" # what the reader sees: both streams
	check "demo: it relinked the binaries" test -x "$tmp/demo-build/blockipam" -a -x "$tmp/demo-build/blockipamctl"
	check "demo: no compiler or linker line in it" \
		bash -c '! grep -nE "^(cc|gcc|clang|ar) |warning:|statically linked|error:" "$1"' _ "$tmp/demo.out"
	check "demo: they are in the build's log" grep -q "statically linked" "$tmp/demo-build/build.log"
	check "demo: no command missing" bash -c '! grep -n "command not found" "$1"' _ "$tmp/demo.out"
	check "demo: how a runtime calls the plugin, environment and stdin" \
		bash -c 'grep -q "How a runtime calls the plugin" "$1" && grep -q "CNI_COMMAND=ADD " "$1" &&
			grep -q "CNI_NETNS=/var/run/netns/ctr-1" "$1" && grep -q "stdin (net.conf):" "$1" &&
			grep -q "\"cniVersion\": \"1.1.0\", \"name\": \"demo-net\"" "$1"' _ "$tmp/demo.out"
	per_pod=$(sed -nE 's/^300 ADDs in [0-9]+ ms: ([0-9]+\.[0-9]{2}) ms per pod.*/\1/p' "$tmp/demo.out")
	check "demo: a per-pod time (${per_pod:-none} ms), not zero" \
		bash -c '[[ $1 =~ ^[0-9]+\.[0-9]{2}$ ]] && [ "$1" != 0.00 ]' _ "$per_pod"
	check "demo: the figure explained (exec, the shell, the README's figure)" \
		bash -c 'grep -A4 "ms per pod" "$1" | grep -q "execs the plugin" &&
			grep -A4 "ms per pod" "$1" | grep -q "README.s 1.6 ms"' _ "$tmp/demo.out"
	if [ "$(id -u)" = 0 ]; then
		check "demo: a packet between two pods (as root)" \
			grep -q "2 packets transmitted, 2 received" "$tmp/demo.out"
		check "demo: the two pods' addresses were blockipam's, then released" \
			bash -c 'grep -q "demo-bridge.demo-a.eth0  default/web-a  node-6" "$1" &&
				grep -q "No allocations match." "$1"' _ "$tmp/demo.out"
		check "demo: no network namespace left" bash -c '! ip netns list | grep -q "^bipdemo-"'
	else
		check "demo: not root, the ping is skipped with a line" grep -q "^skipped: not root" "$tmp/demo.out"
	fi
else
	bad "demo: cannot copy the build: $(cat "$tmp/err")"
fi

# --- each thing said once ---------------------------------------------------------------------------
t "message: an unreachable etcd, said once" 1 "blockipamctl: cannot list pools: etcd 127.0.0.1:1: " \
	"$B" --store etcd://127.0.0.1:1 get pools
check "message: 'cannot list pools' once" test "$(grep -o 'cannot list pools' "$tmp/err" | wc -l)" = 1
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir -m 0700 "$tmp/priv" && cp "$tmp/ipam.db" "$tmp/priv/ipam.db" && chmod 0600 "$tmp/priv/ipam.db"
	chmod 0755 "$tmp"
	t "message: permission denied, said once" 1 "Permission denied" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$B" --store "$tmp/priv/ipam.db" ipam show
	check "message: 'cannot open store' once" test "$(grep -o 'cannot open store' "$tmp/err" | wc -l)" = 1
else
	skip "message: permission denied, said once" "needs root and setpriv"
fi

finish
