#!/usr/bin/env python3
"""Independent checker of a blockipam store shared by several nodes (tests/multinode.sh).

It reads the raw records itself, never through libblockipam: SQLite through Python's own sqlite3
module on the file's `kv` table, etcd through `etcdctl get --prefix -w json` (keys and values in
base64). A snapshot is every record, key (without the prefix) -> value, byte for byte.

    snap STORE OUT                          write STORE's snapshot to OUT (JSON)
    step BEFORE STORE [OPTIONS]             snapshot STORE, compare with BEFORE, check the
                                            invariants, then replace BEFORE with the new one
    same STORE_A STORE_B                    the two stores hold exactly the same records
    drop STORE KEY...                       delete raw records (to make a problem on purpose)
    serve                                   the commands above from stdin (see serve())

step's OPTIONS say what the command may change; everything else must be byte-identical:
    --node N        records of node N may change: nodes/N, affinity/N/..., the handles recorded
                    on N, the blocks affine to N (header and free list), the addresses N holds.
                    Every record of every other node must be byte-identical, and in a block
                    that several nodes' addresses share, the other nodes' entries identical.
    --cluster       cluster records may change (pools/, poolset, config, reservations/,
                    namespaces/)
    --must PAT      some changed key matches PAT (fnmatch, or KIND@NODE: blocks@N, handles@N,
                    affinity@N, the records of that node before or after)
    --may PAT       keys matching PAT may change. Changed keys must all match a --must or --may
                    PAT (exactly these keys changed) unless --any-key.
    --gone KEY      KEY was there before and is not now (implies --must KEY)
    --new KEY       KEY was not there before and is now (implies --must KEY)
    --released H    handle H is gone and no block entry names it (its addresses are free)
    --lost-ok       addresses may lose their handle without the handle record going (repair)
    --problems      the store holds a problem made on purpose: skip the invariants
    --nothing       nothing at all may change (the default when no option allows a change)
Always: an address held before by a handle that still exists is held by it still, with the
same holder; and the invariants below hold on the new snapshot.

Invariants (every snapshot): each block record's key is its CIDR; blocks do not overlap; an
ordinal is in range and held once; each held address's handle record exists and lists it, on
the holding node; each handle's addresses are held by it; a free-list ordinal is not held; an
affinity affinity/N/C names block C, whose node is N, and each block with a node has its
affinity. Prints one line of findings; exits 1 on any failure.
"""
import base64
import fnmatch
import ipaddress
import json
import os
import sqlite3
import subprocess
import sys
import urllib.request

PREFIX = "/blockipam/v1/"
CLUSTER = ("pools/", "poolset", "config", "reservations/", "namespaces/")


def idx_block(key):
    """The block key a block index key stands for (blockidx/4/0a0ae010/028 -> blocks/10.10.224.16-28)."""
    try:
        _, fam, hx, ln = key.split("/")
        n = int(hx, 16)
        ip = ipaddress.IPv4Address(n) if fam == "4" else ipaddress.IPv6Address(n)
        return f"blocks/{ip}-{int(ln)}"
    except ValueError:
        return None


def etcd_endpoints(store):
    return ",".join("http://" + e for e in store[len("etcd://"):].split(","))


def snapshot(store):
    recs = {}
    if store.startswith("sqlite://"):
        path = store[len("sqlite://"):]
        if not os.path.exists(path):
            return recs
        db = sqlite3.connect(path, timeout=30)
        try:
            db.execute("PRAGMA query_only = 1")
            for k, v in db.execute("SELECT key, value FROM kv"):
                recs[k] = v if isinstance(v, str) else bytes(v).decode("utf-8", "surrogateescape")
        finally:
            db.close()
    elif store.startswith("etcd://"):
        # etcd's own JSON gateway (what `etcdctl get --prefix -w json` prints, without starting
        # a process per snapshot)
        end = PREFIX[:-1] + chr(ord(PREFIX[-1]) + 1)
        body = json.dumps({"key": base64.b64encode(PREFIX.encode()).decode(),
                           "range_end": base64.b64encode(end.encode()).decode()}).encode()
        url = "http://" + store[len("etcd://"):].split(",")[0] + "/v3/kv/range"
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=20) as r:
            out = r.read()
        for kv in json.loads(out).get("kvs", []):
            k = base64.b64decode(kv["key"]).decode()
            recs[k[len(PREFIX):]] = base64.b64decode(kv.get("value", "")).decode(
                "utf-8", "surrogateescape")
    else:
        raise ValueError(f"unknown store '{store}'")
    return recs


def drop(store, keys):
    if store.startswith("sqlite://"):
        db = sqlite3.connect(store[len("sqlite://"):], timeout=30)
        with db:
            for k in keys:
                db.execute("DELETE FROM kv WHERE key = ?", (k,))
            db.execute("UPDATE meta SET rev = rev + 1")
        db.close()
    else:
        for k in keys:
            subprocess.run(["etcdctl", "--endpoints=" + etcd_endpoints(store), "del",
                            PREFIX + k], check=True, capture_output=True,
                           env=dict(os.environ, ETCDCTL_API="3"))


class View:
    """The records of a snapshot, decoded by this file alone."""

    def __init__(self, recs):
        self.recs = recs
        self.blocks = {}   # key -> (network, value)
        self.handles = {}  # id -> value
        self.held = {}     # address -> (handle, holder node, block key)
        self.errors = []
        for k, raw in recs.items():
            try:
                v = json.loads(raw)
            except ValueError:
                self.errors.append(f"{k}: not JSON")
                continue
            if k.startswith("blocks/"):
                try:
                    net = ipaddress.ip_network(v["cidr"])
                except (KeyError, ValueError):
                    self.errors.append(f"{k}: bad cidr")
                    continue
                self.blocks[k] = (net, v)
            elif k.startswith("handles/"):
                self.handles[k[len("handles/"):]] = v
        for k, (net, v) in self.blocks.items():
            seen = set()
            for e in v.get("alloc", []):
                off, h = e[0], e[1]
                holder = e[2] if len(e) > 2 else v.get("node")
                if not 0 <= off < net.num_addresses or off in seen:
                    self.errors.append(f"{k}: ordinal {off} out of range or held twice")
                    continue
                seen.add(off)
                a = str(net.network_address + off)
                if a in self.held:
                    self.errors.append(f"{a} held twice ({self.held[a][2]} and {k})")
                self.held[a] = (h, holder, k)
            for off in v.get("freed", []):
                if off in seen:
                    self.errors.append(f"{k}: ordinal {off} both free and held")

    def node_of(self, key):
        """The nodes a record belongs to (a block: its node and every holder of its entries);
        'cluster' for cluster records; None for anything else."""
        if key.startswith("nodes/"):
            return {key[len("nodes/"):]}
        if key.startswith("affinity/"):
            return {key.split("/")[1]}
        if key.startswith("handles/"):
            h = self.handles.get(key[len("handles/"):])
            return {h.get("node") or ""} if h is not None else {""}
        if key.startswith("blocks/") and key in self.blocks:
            net, v = self.blocks[key]
            nodes = {v.get("node") or ""}
            for e in v.get("alloc", []):
                nodes.add(e[2] if len(e) > 2 else (v.get("node") or ""))
            return nodes
        if key.startswith("blockidx/"):
            blk = idx_block(key)
            return self.node_of(blk) if blk else None
        if key.startswith(CLUSTER):
            return {"cluster"}
        return None

    def invariants(self):
        errs = list(self.errors)
        nets = sorted((n.version, int(n.network_address), n, k) for k, (n, _) in self.blocks.items())
        for (_, _, n1, k1), (_, _, n2, k2) in zip(nets, nets[1:]):
            if n1.version == n2.version and n1.overlaps(n2):
                errs.append(f"{k1} and {k2} overlap")
        for k, (net, v) in self.blocks.items():
            if k != "blocks/" + str(net).replace("/", "-"):
                errs.append(f"{k}: key does not name its cidr {net}")
            node = v.get("node")
            if node and f"affinity/{node}/{k[len('blocks/'):]}" not in self.recs:
                errs.append(f"{k}: node {node} has no affinity record for it")
        if "format" in self.recs:  # a store with the block index: one entry per block
            idx = {idx_block(k) for k in self.recs if k.startswith("blockidx/")}
            for k in sorted(set(self.blocks) - idx):
                errs.append(f"{k} has no block index entry")
            for k in sorted(idx - set(self.blocks)):
                errs.append(f"the block index names {k}, which is not a block")
        for a, (h, holder, k) in self.held.items():
            hv = self.handles.get(h)
            if hv is None:
                errs.append(f"{a} in {k}: its handle {h} has no record")
                continue
            if a not in {ip.split("/")[0] for ip in hv.get("ips", [])}:
                errs.append(f"{a} in {k}: handle {h} does not list it")
            if (hv.get("node") or "") != (holder or ""):
                errs.append(f"{a}: held for node {holder} but handle {h} is on {hv.get('node')}")
        for h, hv in self.handles.items():
            for ip in hv.get("ips", []):
                a = ip.split("/")[0]
                if self.held.get(a, (None,))[0] != h:
                    errs.append(f"handle {h} lists {a}, which its block does not give it")
        for k in self.recs:
            if k.startswith("affinity/"):
                parts = k.split("/")
                b = self.blocks.get("blocks/" + parts[2])
                if len(parts) != 3 or b is None:
                    errs.append(f"{k}: no block")
                elif b[1].get("node") != parts[1]:
                    errs.append(f"{k}: its block is on {b[1].get('node')}")
        return errs


def free_only(x, y):
    """Two versions of a record that differ in their "free" field alone."""
    if x is None or y is None:
        return False
    x, y = json.loads(x), json.loads(y)
    x.pop("free", None)
    y.pop("free", None)
    return x == y


def expand(pat, before, after):
    if "@" in pat:
        kind, node = pat.split("@", 1)
        keys = set()
        for view in (before, after):
            for k in view.recs:
                if k.startswith(kind + "/") and node in (view.node_of(k) or set()):
                    if kind != "blocks" or (view.blocks[k][1].get("node") or "") == node:
                        keys.add(k)
        return keys
    return None


def matches(key, pat, before, after):
    keys = expand(pat, before, after)
    return key in keys if keys is not None else fnmatch.fnmatchcase(key, pat)


def step(argv):
    before_file, store = argv[0], argv[1]
    nodes, cluster, must, may, gone, new, released = set(), False, [], [], [], [], []
    lost_ok, any_key, problems = False, False, False
    i = 2
    while i < len(argv):
        o = argv[i]
        if o in ("--cluster", "--nothing", "--lost-ok", "--any-key", "--problems"):
            cluster |= o == "--cluster"
            problems |= o == "--problems"
            lost_ok |= o == "--lost-ok"
            any_key |= o == "--any-key"
            i += 1
            continue
        val = argv[i + 1]
        {"--node": lambda: nodes.add(val), "--must": lambda: must.append(val),
         "--may": lambda: may.append(val), "--gone": lambda: gone.append(val),
         "--new": lambda: new.append(val), "--released": lambda: released.append(val)}[o]()
        i += 2
    with open(before_file) as f:
        b = View(json.load(f))
    a = View(snapshot(store))
    errs = [] if problems else ["after: " + e for e in a.invariants()]
    changed = sorted(k for k in set(b.recs) | set(a.recs) if b.recs.get(k) != a.recs.get(k))
    for k in gone:
        if k not in b.recs or k in a.recs:
            errs.append(f"{k} should have gone (before: {k in b.recs}, after: {k in a.recs})")
    for k in new:
        if k in b.recs or k not in a.recs:
            errs.append(f"{k} should be new (before: {k in b.recs}, after: {k in a.recs})")
    for p in must + gone + new:
        if not any(matches(k, p, b, a) for k in changed):
            errs.append(f"nothing matching '{p}' changed")
    if not any_key:
        for k in changed:
            if k == "format" and k not in b.recs:
                continue  # written once, with a store's first pool or block
            blk = idx_block(k) if k.startswith("blockidx/") else None
            if blk and (blk in b.recs) != (blk in a.recs):
                continue  # an index entry comes and goes with its block (invariants below)
            if not any(matches(k, p, b, a) for p in must + may + gone + new):
                errs.append(f"{k} changed and should not have")
    allowed = set(nodes) | ({"cluster"} if cluster else set())
    for k in changed:
        owners = (b.node_of(k) or set()) | (a.node_of(k) or set())
        if k.startswith("affinity/") and free_only(b.recs.get(k), a.recs.get(k)):
            # the free count an affinity caches follows its block, whose entries are checked
            # one by one: another node's address taken from or given back to the block
            blk = "blocks/" + k.split("/")[2]
            owners = (b.node_of(blk) or set()) | (a.node_of(blk) or set())
            if owners & allowed:
                continue
        if k.startswith("blocks/") and owners - allowed and owners & allowed:
            continue  # a block shared by several nodes: checked entry by entry below
        if owners and not owners & allowed:
            errs.append(f"{k} of {'/'.join(sorted(owners))} changed "
                        f"(only {'/'.join(sorted(allowed)) or 'nothing'} may)")
    for addr, (h, holder, k) in b.held.items():
        now = a.held.get(addr)
        if h in a.handles and now != (h, holder, k) and not lost_ok:
            errs.append(f"{addr} of live handle {h} changed: {now}")
        if now != (h, holder, k) and (holder or "") not in allowed:
            errs.append(f"{addr} held by {h} on {holder} changed: {now}")
    for addr, (h, holder, k) in a.held.items():
        if b.held.get(addr) != (h, holder, k) and (holder or "") not in allowed:
            errs.append(f"{addr} newly held by {h} on {holder} (only {sorted(allowed)} may)")
    for h in released:
        if h in a.handles or any(x[0] == h for x in a.held.values()):
            errs.append(f"handle {h} should be released")
        if h not in b.handles:
            errs.append(f"handle {h} was not there to release")
    with open(before_file, "w") as f:
        json.dump(a.recs, f)
    print(f"{len(changed)} keys changed ({', '.join(changed[:6])}"
          f"{', ...' if len(changed) > 6 else ''}); {len(a.handles)} handles, "
          f"{len(a.held)} addresses, {len(a.blocks)} blocks")
    for e in errs[:20]:
        print("  " + e)
    return 1 if errs else 0


def serve():
    """Commands on stdin, one a line, arguments separated by \\x1f; after each, its output and
    a line "__rc__ N". One process for a whole test: Python starts in 0.2 s here."""
    for line in sys.stdin:
        argv = line.rstrip("\n").split("\x1f")
        try:
            rc = run(argv[0], argv[1:])
        except Exception as e:  # the test goes on; the step fails
            print(f"multinode_check: {argv[0]}: {e!r}")
            rc = 2
        print(f"__rc__ {rc}", flush=True)
    return 0


def main():
    if sys.argv[1] == "serve":
        return serve()
    return run(sys.argv[1], sys.argv[2:])


def run(cmd, argv):
    if cmd == "snap":
        with open(argv[1], "w") as f:
            json.dump(snapshot(argv[0]), f)
        errs = View(snapshot(argv[0])).invariants()
        for e in errs[:20]:
            print("  " + e)
        return 1 if errs else 0
    if cmd == "step":
        return step(argv)
    if cmd == "same":
        x, y = snapshot(argv[0]), snapshot(argv[1])
        diff = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
        print(f"{len(x)} and {len(y)} records, {len(diff)} differ {diff[:5]}")
        return 1 if diff or not x else 0
    if cmd == "drop":
        drop(argv[0], argv[1:])
        return 0
    raise ValueError(f"unknown command '{cmd}'")


if __name__ == "__main__":
    sys.exit(main())
