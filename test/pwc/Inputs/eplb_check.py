#!/usr/bin/env python3
"""Checks a `pwc eplb` JSON output against its case, independently of pwc.

  eplb_check.py OUTPUT.json CASE.json [--placement-only]

CASE is the reference's arguments, optionally wrapped as {"input": ...,
"expected": {"phy2log": ..., "logcnt": ...}} (the README fixture); expected
outputs must match exactly unless --placement-only (for other policies). In any case the output must be a placement of
the case: shapes, every expert replicated, logcnt counting phy2log, log2phy
listing exactly each expert's slots (then -1), and balancedness equal to
mean / max GPU load recomputed here.
"""
import json
import sys


def main(output_path, case_path, placement_only):
    with open(output_path) as f:
        out = json.load(f)
    with open(case_path) as f:
        case = json.load(f)
    given = case.get("input", case)
    expected = {} if placement_only else case.get("expected", {})
    for key, value in expected.items():
        assert out[key] == value, "%s differs: %s != %s" % (key, out[key],
                                                              value)
    weight = given["weight"]
    slots, gpus = given["num_replicas"], given["num_gpus"]
    per_gpu = slots // gpus
    assert len(out["phy2log"]) == len(weight)
    for layer, row in enumerate(out["phy2log"]):
        experts = len(weight[layer])
        assert len(row) == slots
        counts = [row.count(e) for e in range(experts)]
        assert min(counts) >= 1, "an expert without replicas"
        assert counts == out["logcnt"][layer]
        for expert, listed in enumerate(out["log2phy"][layer]):
            live = [s for s in listed if s >= 0]
            assert listed == live + [-1] * (len(listed) - len(live))
            assert sorted(live) == [s for s in range(slots)
                                    if row[s] == expert]
        loads = [sum(weight[layer][row[s]] / counts[row[s]]
                     for s in range(g * per_gpu, (g + 1) * per_gpu))
                 for g in range(gpus)]
        balancedness = sum(loads) / gpus / max(loads)
        assert abs(balancedness - out["balancedness"][layer]) < 1e-9
        assert abs(max(loads) - out["max_gpu_load"][layer]) < 1e-6
    print("ok: %d layers" % len(weight))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--placement-only" in sys.argv[3:])
