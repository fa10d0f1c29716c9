#!/usr/bin/env bash
# deploy/kubernetes: every manifest document is valid YAML that kubectl reads (`kubectl label
# --local`, no server), with the fields Kubernetes requires and that tie the documents together
# (selectors match template labels, mounts name volumes, env references name ConfigMap keys,
# RBAC is get/list/watch of nodes, namespaces and pods only, the binding names the role and the
# service account). install-cni.sh, run as the DaemonSet runs it, installs the plugin and writes
# a conflist declaring cniVersion 1.1.0 that the installed plugin then serves an ADD from.
# Ends with "deploy: N passed, N failed, N skipped".
set -u
name=deploy
. "$(dirname "$0")/lib.sh"
dir=$root/deploy/kubernetes
B=$ctl
make_tmp

export KUBECONFIG=$tmp/none
if command -v kubectl >/dev/null 2>&1; then
	for f in "$dir"/*.yaml; do
		if kubectl label --local -f "$f" -o json check=1 >"$tmp/k.json" 2>"$tmp/k.err"; then
			pass "kubectl reads $(basename "$f")"
		else
			fail "kubectl reads $(basename "$f")" "$(head -n 3 "$tmp/k.err")"
		fi
	done
else
	skip "kubectl reads the manifests" "kubectl is not installed"
fi

if ! python3 -c 'import yaml' 2>/dev/null; then
	skip "manifest fields" "python3 with PyYAML is not installed (apt-get install python3-yaml)"
else
	python3 - "$dir" <<'PY' || failed=$((failed + 1))
import glob, json, os, sys, yaml
d = sys.argv[1]
docs, bad, n = [], [], 0
for f in sorted(glob.glob(os.path.join(d, "*.yaml"))):
    for i, doc in enumerate(yaml.safe_load_all(open(f))):
        if doc is not None:
            docs.append((os.path.basename(f) + " doc %d" % (i + 1), doc))
def need(ok, what):
    global n
    n += 1
    if not ok:
        bad.append(what)
kinds = {}
for where, d0 in docs:
    need(isinstance(d0, dict), where + ": an object")
    for k in ("apiVersion", "kind", "metadata"):
        need(k in d0, "%s: %s" % (where, k))
    md = d0.get("metadata", {})
    need(bool(md.get("name")), where + ": metadata.name")
    if d0.get("kind") not in ("ClusterRole", "ClusterRoleBinding"):
        need(md.get("namespace") == "kube-system", where + ": metadata.namespace kube-system")
    kinds.setdefault(d0.get("kind"), []).append(d0)
cm = {c["metadata"]["name"]: c for c in kinds.get("ConfigMap", [])}
secrets = {s["metadata"]["name"] for s in kinds.get("Secret", [])}
sas = {s["metadata"]["name"] for s in kinds.get("ServiceAccount", [])}
for c in cm.values():
    need(all(isinstance(v, str) for v in c.get("data", {}).values()), "ConfigMap data strings")
conf = cm["blockipam-config"]["data"]["10-blockipam.conflist"]
j = json.loads(conf.replace('"__STORE__"__TLS__', '"x"').replace("__NODE__", "n"))
need(j.get("cniVersion") == "1.1.0", "conflist cniVersion 1.1.0")
need(any(p.get("ipam", {}).get("type") == "blockipam" for p in j["plugins"]), "conflist ipam blockipam")
for kind in ("DaemonSet", "Deployment"):
    for w in kinds.get(kind, []):
        nm, spec = w["metadata"]["name"], w.get("spec", {})
        tpl = spec.get("template", {})
        sel = spec.get("selector", {}).get("matchLabels", {})
        lab = tpl.get("metadata", {}).get("labels", {})
        need(sel and all(lab.get(k) == v for k, v in sel.items()), nm + ": selector matches the template")
        ps = tpl.get("spec", {})
        vols = {v["name"]: v for v in ps.get("volumes", [])}
        need(ps.get("containers"), nm + ": containers")
        for c in ps.get("containers", []):
            need(c.get("name") and c.get("image"), nm + ": container name and image")
            for m in c.get("volumeMounts", []):
                need(m["name"] in vols and m.get("mountPath"), nm + ": mount " + m["name"])
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    need(ref["key"] in cm.get(ref["name"], {}).get("data", {}),
                         nm + ": env %s from %s/%s" % (e["name"], ref["name"], ref["key"]))
        for v in vols.values():
            if "secret" in v:
                need(v["secret"].get("optional") or v["secret"]["secretName"] in secrets, nm + ": secret")
            if "configMap" in v:
                need(v["configMap"]["name"] in cm, nm + ": configMap volume")
        if ps.get("serviceAccountName"):
            need(ps["serviceAccountName"] in sas, nm + ": service account exists")
for r in kinds.get("ClusterRole", []):
    for rule in r["rules"]:
        need(rule.get("apiGroups") == [""], "RBAC: core group only")
        need(sorted(rule.get("resources", [])) == ["namespaces", "nodes", "pods"], "RBAC: nodes, namespaces, pods")
        need(sorted(rule.get("verbs", [])) == ["get", "list", "watch"], "RBAC: get, list, watch only")
roles = {r["metadata"]["name"] for r in kinds.get("ClusterRole", [])}
for b in kinds.get("ClusterRoleBinding", []):
    need(b["roleRef"]["name"] in roles, "binding names the role")
    need(all(s["name"] in sas for s in b["subjects"]), "binding names the service account")
need(kinds.get("DaemonSet") and kinds.get("Deployment"), "a DaemonSet and a Deployment")
for b in bad:
    print("FAIL manifest field: " + b)
print("%s   manifest fields: %d checks, %d failed" % ("ok" if not bad else "FAIL", n, len(bad)))
sys.exit(1 if bad else 0)
PY
	[ "$?" = 0 ] && passed=$((passed + 1))
	# the DaemonSet's install step, on this machine, into a scratch "host"
	if [ -x "$build/blockipam" ] && command -v jq >/dev/null; then
		python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap": print(d["data"]["10-blockipam.conflist"], end="")' \
			"$dir/00-config.yaml" >"$tmp/template"
		mkdir -p "$tmp/certs" "$tmp/host/etc/cni/net.d"
		echo ca >"$tmp/certs/ca.pem"
		echo cert >"$tmp/certs/cert.pem"
		echo key >"$tmp/certs/key.pem"
		if BLOCKIPAM_STORE="etcds://127.0.0.1:1" NODE_NAME=node-a INSTALL_ONCE=1 PLUGIN=$build/blockipam \
			CNI_BIN_DIR=$tmp/host/opt/cni/bin CNI_NET_DIR=$tmp/host/etc/cni/net.d \
			HOST_CNI_NET_DIR=/etc/cni/net.d TEMPLATE=$tmp/template CERT_DIR=$tmp/certs \
			sh "$dir/install-cni.sh" >"$tmp/install.out" 2>&1; then
			pass "install-cni.sh runs"
		else
			fail "install-cni.sh runs" "$(cat "$tmp/install.out")"
		fi
		c=$tmp/host/etc/cni/net.d/10-blockipam.conflist
		[ -x "$tmp/host/opt/cni/bin/blockipam" ] && pass "plugin installed" || fail "plugin installed" "missing"
		[ "$(jq -r .cniVersion "$c" 2>/dev/null)" = 1.1.0 ] && pass "conflist cniVersion 1.1.0" ||
			fail "conflist cniVersion 1.1.0" "$(cat "$c" 2>&1 | head -n 5)"
		[ "$(jq -r '.plugins[0].ipam.store_key_file' "$c" 2>/dev/null)" = /etc/cni/net.d/blockipam-tls/key.pem ] &&
			[ "$(stat -c %a "$tmp/host/etc/cni/net.d/blockipam-tls/key.pem")" = 600 ] &&
			pass "certificates installed 0600, named in the conflist" || fail "certificates" "$(cat "$c")"
		[ "$(jq -r '.plugins[0].ipam.node' "$c" 2>/dev/null)" = node-a ] && pass "node name filled in" ||
			fail "node name filled in" "$(cat "$c")"
		# the installed plugin serves an ADD from that conflist (pointed at a SQLite store)
		db=sqlite://$tmp/ipam.db
		BLOCKIPAM_STORE=$db "$B" apply -f - >/dev/null <<'Y'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p}
spec: {cidr: 10.77.0.0/24}
Y
		jq --arg s "$db" '.plugins[0] + {cniVersion, name} | .ipam.store = $s | .ipam |= del(.store_ca_file, .store_cert_file, .store_key_file)' \
			"$c" >"$tmp/net.json"
		if CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/x CNI_PATH=$tmp/host/opt/cni/bin \
			"$tmp/host/opt/cni/bin/blockipam" <"$tmp/net.json" >"$tmp/add.json" 2>&1 &&
			jq -e '.cniVersion == "1.1.0" and (.ips[0].address | startswith("10.77.0."))' "$tmp/add.json" >/dev/null; then
			pass "the installed plugin serves an ADD from the conflist"
		else
			fail "the installed plugin serves an ADD from the conflist" "$(cat "$tmp/add.json")"
		fi
	else
		skip "install-cni.sh" "needs $build/blockipam and jq"
	fi
fi
finish
