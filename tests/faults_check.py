#!/usr/bin/env python3
"""The independent checker of tests/etcd-faults.sh: no blockipam code, only the raw records
(etcdctl get --prefix -w json) and the log of every plugin call the workers made.

  faults_check.py snapshot RAW.json
      one consistent snapshot (etcdctl reads at one revision), taken while calls are in flight:
      no address held twice, and every handle record's addresses are owned by that handle in
      their block (handle and block are committed in one txn, so this holds at every revision)

  faults_check.py final RAW.json BUDGET_MS LOG...
      the snapshot checks, then against the log (lines: phase, cmd, container, exit status,
      start, end, the plugin's stdout; one worker owns a container, so its calls are in order):
        - a handle whose last call succeeded and was an ADD holds exactly the addresses that ADD
          returned; one whose last call succeeded and was a DEL is gone; a handle whose last call
          failed may be either (a failed call's outcome is unknown: "may have been applied")
        - every failed call answered a CNI error with code 11
        - no call took longer than BUDGET_MS (the maximum is reported)
      and prints, per phase: calls, failures by code, latency median / p99 / max.
Exit status 0 when every check holds.
"""
import base64
import ipaddress
import json
import sys

PREFIX = "/blockipam/v1/"
NETWORK = "fl"  # the network name of the workers' config


def load_raw(path):
    raw = json.load(open(path))
    owner, dups, handles = {}, [], {}
    for kv in raw.get("kvs", []):
        k = base64.b64decode(kv["key"]).decode()
        if not k.startswith(PREFIX):
            continue
        rel = k[len(PREFIX):]
        v = json.loads(base64.b64decode(kv["value"]))
        if rel.startswith("blocks/"):
            net = ipaddress.ip_network(v["cidr"])
            for off, h in v.get("alloc", []):
                a = str(net.network_address + off)
                if a in owner:
                    dups.append((a, owner[a], h))
                owner[a] = h
        elif rel.startswith("handles/"):
            handles[rel[len("handles/"):]] = [ip.split("/")[0] for ip in v.get("ips", [])]
    return owner, dups, handles


def snapshot_problems(owner, dups, handles):
    probs = [f"address {a} held twice ({h1}, {h2})" for a, h1, h2 in dups]
    for h, ips in handles.items():
        for ip in ips:
            if owner.get(ip) != h:
                probs.append(f"handle {h} lists {ip}, its block says {owner.get(ip)}")
    held_by = {}
    for a, h in owner.items():
        held_by.setdefault(h, set()).add(a)
    for h, addrs in held_by.items():
        if set(handles.get(h, [])) != addrs:
            probs.append(f"blocks give {h} {sorted(addrs)}, its handle record "
                         f"{sorted(handles.get(h, []))}")
    return probs


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(len(v) * p + 0.999) - 1))]


def final(raw_path, budget_ms, logs):
    owner, dups, handles = load_raw(raw_path)
    probs = snapshot_problems(owner, dups, handles)
    calls = {}   # container -> [(cmd, ok, ips)]
    phases = {}  # phase -> {"n", "codes": {code: n}, "ms": []}
    order = []
    worst = (0.0, "")
    for path in logs:
        for line in open(path, errors="replace"):
            parts = line.rstrip("\n").split("\t", 6)
            if len(parts) < 7:
                continue
            phase, cmd, cid, rc, t0, t1, out = parts
            ms = (float(t1) - float(t0)) * 1000
            if phase not in phases:
                phases[phase] = {"n": 0, "codes": {}, "ms": []}
                order.append(phase)
            ph = phases[phase]
            ph["n"] += 1
            ph["ms"].append(ms)
            if ms > worst[0]:
                worst = (ms, f"{phase} {cmd} {cid}")
            ok = rc == "0"
            ips = []
            if ok:
                try:
                    if cmd == "ADD":
                        ips = [i["address"].split("/")[0]
                               for i in json.loads(out).get("ips", [])]
                except ValueError:
                    probs.append(f"{cmd} {cid} succeeded with undecodable output {out[:80]!r}")
            else:
                try:
                    code = json.loads(out).get("code")
                except ValueError:
                    code = f"exit {rc}" + (" (killed: hung)" if rc == "137" else "")
                ph["codes"][code] = ph["codes"].get(code, 0) + 1
                if code != 11:
                    probs.append(f"{phase}: {cmd} {cid} failed with code {code}: {out[:300]}")
            calls.setdefault(cid, []).append((cmd, ok, ips))
            if ms > budget_ms:
                probs.append(f"{phase}: {cmd} {cid} took {ms:.0f} ms (budget {budget_ms} ms)")
    held_by = {}
    for a, h in owner.items():
        held_by.setdefault(h, set()).add(a)
    returned = {}
    for cid, seq in calls.items():
        handle = NETWORK + "." + cid + ".eth0"
        if handle not in handles and handle not in held_by:
            handle = None
        cmd, ok, ips = seq[-1]
        if not ok:
            continue  # unknown outcome: either is right (the snapshot checks still hold)
        if cmd == "ADD":
            for ip in ips:
                if ip in returned:
                    probs.append(f"{ip} returned to {returned[ip]} and {cid}, both still held")
                returned[ip] = cid
            got = held_by.get(handle, set()) if handle else set()
            if got != set(ips):
                probs.append(f"{cid}: its ADD returned {ips}, the store holds {sorted(got)}")
        elif handle:
            probs.append(f"{cid}: its DEL succeeded, the store still holds {handle}")
    total = sum(p["n"] for p in phases.values())
    print(f"  {'phase':<20} {'calls':>6} {'failed':>6}  {'errors by code':<24}"
          f" {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for name in order:
        p = phases[name]
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(p["codes"].items(), key=str)) or "-"
        print(f"  {name:<20} {p['n']:>6} {sum(p['codes'].values()):>6}  {codes:<24}"
              f" {pct(p['ms'], 0.5):>7.1f} {pct(p['ms'], 0.99):>7.1f} {max(p['ms']):>7.1f}")
    print(f"  {total} calls; {len(owner)} addresses held by {len(handles)} handles; slowest call "
          f"{worst[0]:.0f} ms ({worst[1]}), budget {budget_ms} ms")
    return probs


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "snapshot":
        owner, dups, handles = load_raw(sys.argv[2])
        probs = snapshot_problems(owner, dups, handles)
        print(f"{len(owner)} addresses, {len(handles)} handles, {len(probs)} problems")
    elif len(sys.argv) >= 4 and sys.argv[1] == "final":
        probs = final(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in probs[:30]:
        print("  PROBLEM:", p)
    if len(probs) > 30:
        print(f"  ... and {len(probs) - 30} more")
    return 1 if probs else 0


if __name__ == "__main__":
    sys.exit(main())
