#!/usr/bin/env python3
"""Checks a runtime trace of the MoE example: valid Chrome trace JSON with
kernel and all-to-all slices from every process, and all-to-alls that run
while a kernel runs on another stream of the same process (communication
hidden under compute). Prints how much all-to-all time overlaps kernels."""
import json
import sys

path, ranks = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    trace = json.load(f)
events = trace["traceEvents"] if isinstance(trace, dict) else trace
slices = [e for e in events if e.get("ph") == "X"]
kernels = [e for e in slices if e.get("cat") == "kernel"]
all_to_alls = [e for e in slices if e.get("cat") == "transfer"
               and e.get("args", {}).get("kind") == "all_to_all"]
for what, found in (("kernel", kernels), ("all-to-all", all_to_alls)):
    seen = {e["pid"] for e in found}
    if seen != set(range(ranks)):
        sys.exit(f"{what} slices from processes {sorted(seen)}, "
                 f"expected 0..{ranks - 1}")
names = {e["name"] for e in all_to_alls}
expected = {f"all_to_all {c} ({d})" for c in ("dispatch", "combine")
            for d in ("forward", "backward")}
if names != expected:
    sys.exit(f"all-to-all names {sorted(names)}, expected {sorted(expected)}")


def overlap(a, b):
    return max(0.0, min(a["ts"] + a["dur"], b["ts"] + b["dur"])
               - max(a["ts"], b["ts"]))


overlapping = 0
total = hidden = 0.0
for a in all_to_alls:
    others = [k for k in kernels if k["pid"] == a["pid"]
              and k["tid"] != a["tid"] and overlap(a, k) > 0]
    if others:
        overlapping += 1
    total += a["dur"]
    # Kernels of one stream do not overlap each other: their overlaps add.
    hidden += min(a["dur"], sum(overlap(a, k) for k in others))
if overlapping == 0:
    sys.exit("no all-to-all overlaps a kernel on another stream of its "
             "process")
print(f"{len(kernels)} kernels, {len(all_to_alls)} all-to-alls; "
      f"{overlapping} all-to-alls overlap a kernel on another stream of "
      f"their process ({hidden / total:.0%} of all-to-all time)")
