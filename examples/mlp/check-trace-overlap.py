#!/usr/bin/env python3
"""Checks a runtime trace of the MLP demo: valid Chrome trace JSON with
kernel and transfer slices from every rank, and at least one transfer that
overlaps a kernel on the same rank (communication hidden under compute)."""
import json
import sys

path, ranks = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    trace = json.load(f)
events = trace["traceEvents"] if isinstance(trace, dict) else trace
slices = [e for e in events if e.get("ph") == "X"]
kernels = [e for e in slices if e.get("cat") == "kernel"]
transfers = [e for e in slices if e.get("cat") == "transfer"]
for what, found in (("kernel", kernels), ("transfer", transfers)):
    seen = {e["pid"] for e in found}
    if seen != set(range(ranks)):
        sys.exit(f"{what} slices from ranks {sorted(seen)}, expected 0..{ranks-1}")

overlapping = 0
for t in transfers:
    t0, t1 = t["ts"], t["ts"] + t["dur"]
    for k in kernels:
        if k["pid"] == t["pid"] and k["ts"] < t1 and t0 < k["ts"] + k["dur"]:
            overlapping += 1
            break
if overlapping == 0:
    sys.exit("no transfer overlaps a kernel on its rank")
print(f"{len(kernels)} kernels, {len(transfers)} transfers; "
      f"{overlapping} transfers overlap a kernel on their rank")
