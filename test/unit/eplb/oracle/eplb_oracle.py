#!/usr/bin/env python3
"""Test oracle for pipeweave's EPLB library (passes/Eplb).

A plain-Python (no torch, no numpy) re-enactment of DeepSeek's reference
`rebalance_experts` (github.com/deepseek-ai/EPLB, eplb.py): the same four
steps (balanced_packing, replicate_experts, rebalance_experts_hierarchical,
rebalance_experts) with the same loop structure, written element by element
instead of as tensor operations, so that it checks the C++ port
independently.

Arithmetic follows the reference's float32 tensors: loads are rounded to
float32 first, every division and every running pack sum is rounded to
float32 after each operation (Python computes in double; rounding a double
+, - or / of two float32 values to float32 gives the correctly rounded
float32 result, so this is exact).

Where the reference leaves the outcome to an unspecified order, the oracle
uses pipeweave's documented rules:
  * sort(descending=True) of equal loads: stable (lower index first);
  * max(dim).indices and Python's min(): the first index among equals (as
    the reference);
  * the per-group load sum: summed in double in expert order, then rounded
    to float32 once.

Usage:
  eplb_oracle.py check FIXTURE.json     # compare with the README example
  eplb_oracle.py solve CASE.json        # print phy2log/log2phy/logcnt
  eplb_oracle.py grid OUT.json          # write the random test grid
"""

import json
import random
import struct
import sys


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def stable_desc_order(values):
    # Python's sort is stable; sorting on -value keeps equal loads in index
    # order.
    return sorted(range(len(values)), key=lambda i: -values[i])


def balanced_packing(weight, num_packs):
    """weight: one row. Returns (pack_index, rank_in_pack) lists."""
    n = len(weight)
    assert n % num_packs == 0
    per_pack = n // num_packs
    if per_pack == 1:
        return list(range(n)), [0] * n
    pack_index = [-1] * n
    rank_in_pack = [-1] * n
    pack_weights = [0.0] * num_packs
    pack_items = [0] * num_packs
    for item in stable_desc_order(weight):
        best = None
        for p in range(num_packs):
            if pack_items[p] >= per_pack:
                continue
            if best is None or pack_weights[p] < pack_weights[best]:
                best = p
        pack_index[item] = best
        rank_in_pack[item] = pack_items[best]
        pack_weights[best] = f32(pack_weights[best] + weight[item])
        pack_items[best] += 1
    return pack_index, rank_in_pack


def replicate_experts(weight, num_phy):
    """weight: one row. Returns (phy2log, rank, logcnt)."""
    num_log = len(weight)
    assert num_phy >= num_log
    phy2log = list(range(num_log)) + [0] * (num_phy - num_log)
    rank = [0] * num_phy
    logcnt = [1] * num_log
    for i in range(num_log, num_phy):
        best = 0
        best_value = f32(weight[0] / logcnt[0])
        for e in range(1, num_log):
            value = f32(weight[e] / logcnt[e])
            if value > best_value:
                best, best_value = e, value
        phy2log[i] = best
        rank[i] = logcnt[best]
        logcnt[best] += 1
    return phy2log, rank, logcnt


def inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def rebalance_layer_hierarchical(weight, num_phy, num_groups, num_nodes,
                                 num_gpus):
    """One layer. Returns (pphy2log, pphyrank, logcnt)."""
    num_log = len(weight)
    assert num_log % num_groups == 0
    group_size = num_log // num_groups
    assert num_groups % num_nodes == 0
    groups_per_node = num_groups // num_nodes
    assert num_gpus % num_nodes == 0
    assert num_phy % num_gpus == 0
    phy_per_gpu = num_phy // num_gpus
    log_per_node = num_log // num_nodes
    phy_per_node = num_phy // num_nodes

    # Step 1: groups to nodes.
    tokens_per_group = []
    for g in range(num_groups):
        total = 0.0
        for j in range(group_size):
            total += weight[g * group_size + j]
        tokens_per_group.append(f32(total))
    group_pack, group_rank = balanced_packing(tokens_per_group, num_nodes)
    log2mlog = [0] * num_log
    for g in range(num_groups):
        base = (group_pack[g] * groups_per_node + group_rank[g]) * group_size
        for j in range(group_size):
            log2mlog[g * group_size + j] = base + j
    mlog2log = inverse(log2mlog)

    pphy2log = [0] * num_phy
    pphyrank = [0] * num_phy
    mlogcnt_all = [0] * num_log
    for node in range(num_nodes):
        # Step 2: replicas within the node.
        tokens_per_mlog = [weight[mlog2log[node * log_per_node + k]]
                           for k in range(log_per_node)]
        phy2mlog, phyrank, mlogcnt = replicate_experts(tokens_per_mlog,
                                                       phy_per_node)
        for k in range(log_per_node):
            mlogcnt_all[node * log_per_node + k] = mlogcnt[k]
        # Step 3: replicas to the node's GPUs.
        tokens_per_phy = [f32(tokens_per_mlog[m] / mlogcnt[m])
                          for m in phy2mlog]
        pack, rank = balanced_packing(tokens_per_phy, num_gpus // num_nodes)
        phy2pphy = [pack[p] * phy_per_gpu + rank[p]
                    for p in range(phy_per_node)]
        pphy2phy = inverse(phy2pphy)
        for q in range(phy_per_node):
            p = pphy2phy[q]
            slot = node * phy_per_node + q
            pphy2log[slot] = mlog2log[node * log_per_node + phy2mlog[p]]
            pphyrank[slot] = phyrank[p]
    logcnt = [mlogcnt_all[log2mlog[e]] for e in range(num_log)]
    return pphy2log, pphyrank, logcnt


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """weight: [layers][experts]. Returns (phy2log, log2phy, logcnt)."""
    weight = [[f32(float(x)) for x in row] for row in weight]
    if num_groups % num_nodes == 0:
        args = (num_replicas, num_groups, num_nodes, num_gpus)
    else:
        args = (num_replicas, 1, 1, num_gpus)
    results = [rebalance_layer_hierarchical(row, *args) for row in weight]
    phy2log = [r[0] for r in results]
    phyrank = [r[1] for r in results]
    logcnt = [r[2] for r in results]
    maxlogcnt = max(max(row) for row in logcnt)
    log2phy = []
    for layer in range(len(weight)):
        table = [[-1] * maxlogcnt for _ in weight[layer]]
        for slot in range(num_replicas):
            table[phy2log[layer][slot]][phyrank[layer][slot]] = slot
        log2phy.append(table)
    return phy2log, log2phy, logcnt


def solve_case(case):
    return rebalance_experts(case["weight"], case["num_replicas"],
                             case["num_groups"], case["num_nodes"],
                             case["num_gpus"])


def check(path):
    with open(path) as f:
        fixture = json.load(f)
    phy2log, _, logcnt = solve_case(fixture["input"])
    ok = (phy2log == fixture["expected"]["phy2log"]
          and logcnt == fixture["expected"]["logcnt"])
    print("README example:", "reproduced" if ok else "MISMATCH")
    if not ok:
        print(phy2log, logcnt)
    return 0 if ok else 1


def random_shape(rng):
    """A random valid (experts, replicas, groups, nodes, gpus)."""
    while True:
        nodes = rng.choice([1, 1, 2, 2, 3, 4])
        gpus = nodes * rng.randint(1, 4)
        per_gpu = rng.randint(1, 4)
        replicas = gpus * per_gpu
        if rng.random() < 0.75:
            # Hierarchical: groups a multiple of nodes, experts of groups.
            groups = nodes * rng.randint(1, 3)
            experts = groups * rng.randint(1, 4)
        else:
            # Global: groups not a multiple of nodes (experts then need not
            # split into groups either).
            groups = rng.randint(2, 7)
            if groups % nodes == 0:
                continue
            experts = rng.randint(2, 16)
        if experts <= replicas <= experts * 3 and replicas <= 48:
            return experts, replicas, groups, nodes, gpus


def random_case(rng, kind):
    experts, replicas, groups, nodes, gpus = random_shape(rng)
    layers = rng.randint(1, 3)
    if kind == "continuous":
        # Distinct float32 loads: no ties except between replicas of one
        # expert, which cannot change phy2log.
        weight = [[round(rng.uniform(0.0, 1000.0), 3) for _ in range(experts)]
                  for _ in range(layers)]
    elif kind == "skewed":
        weight = []
        for _ in range(layers):
            order = list(range(experts))
            rng.shuffle(order)
            row = [0.0] * experts
            for r, e in enumerate(order):
                row[e] = round(1000.0 / (r + 1) ** 1.2 + rng.uniform(0, 1), 3)
            weight.append(row)
    else:
        # Small integers: many ties, resolved by the documented rules.
        weight = [[rng.randint(0, 9) for _ in range(experts)]
                  for _ in range(layers)]
    return {"weight": weight, "num_replicas": replicas, "num_groups": groups,
            "num_nodes": nodes, "num_gpus": gpus}


def grid(out_path):
    rng = random.Random(20250605)
    cases = []
    for kind, count in (("continuous", 120), ("skewed", 60), ("ties", 80)):
        for _ in range(count):
            case = random_case(rng, kind)
            phy2log, log2phy, logcnt = solve_case(case)
            cases.append({"kind": kind, "input": case,
                          "expected": {"phy2log": phy2log,
                                       "log2phy": log2phy,
                                       "logcnt": logcnt}})
    with open(out_path, "w") as f:
        f.write('{"generator": "test/unit/eplb/oracle/eplb_oracle.py grid",\n')
        f.write(' "cases": [\n')
        for i, case in enumerate(cases):
            f.write("  " + json.dumps(case, separators=(",", ":")))
            f.write(",\n" if i + 1 < len(cases) else "\n")
        f.write(" ]}\n")
    print("wrote", len(cases), "cases to", out_path)
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        return check(argv[2])
    if len(argv) == 3 and argv[1] == "solve":
        with open(argv[2]) as f:
            case = json.load(f)
        phy2log, log2phy, logcnt = solve_case(case)
        print(json.dumps({"phy2log": phy2log, "log2phy": log2phy,
                          "logcnt": logcnt}))
        return 0
    if len(argv) == 3 and argv[1] == "grid":
        return grid(argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
