#!/usr/bin/env python3
"""Recomputes pw-prof's figures for a PyTorch profiler trace from scratch
and compares them with pw-prof's --format=json report.

Usage: deepseek_check.py TRACE.json PW_PROF_REPORT.json

Independent of pw-prof's code: plain `json`, and a different algorithm -- a
sweep over interval boundaries with a counter per class -- instead of
pw-prof's sort-and-merge unions. Times stay the file's integers (it refuses
traces with fractional microseconds). Prints the figures it computed, so the
lit test can pin them, then whether pw-prof agrees.
"""
import json
import re
import sys
from collections import defaultdict

# pw-prof's documented default for --comm-kernels (case-insensitive search).
COMMUNICATION = re.compile(
    r"nccl|rccl|nvshmem|all_?to_?all|all_?gather|reduce_?scatter|all_?reduce|"
    r"sendrecv|deep_?ep::|::ep::|memcpy ptop|p2p|^i?send|^i?recv",
    re.IGNORECASE)
GPU_CATEGORIES = {"kernel", "gpu_memcpy", "gpu_memset"}
LAUNCH_CATEGORIES = {"cuda_runtime", "cuda_driver"}


def covered(intervals_by_class, need):
    """Time during which every class in `need` has at least one interval
    running: a sweep over all start (+1) and end (-1) points."""
    points = []
    for cls, intervals in intervals_by_class.items():
        for start, end in intervals:
            if end > start:
                points.append((start, 1, cls))
                points.append((end, -1, cls))
    points.sort(key=lambda p: (p[0], p[1]))
    active = defaultdict(int)
    total, previous = 0, None
    for time, delta, cls in points:
        if previous is not None and all(active[c] > 0 for c in need):
            total += time - previous
        active[cls] += delta
        previous = time
    return total


def main():
    trace_path, report_path = sys.argv[1], sys.argv[2]
    with open(trace_path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    with open(report_path) as f:
        report = json.load(f)

    complete = [e for e in events
                if e.get("ph") == "X" and "ts" in e and "dur" in e]
    for e in complete:
        if not isinstance(e["ts"], int) or not isinstance(e["dur"], int):
            sys.exit("fractional microseconds: this check needs integers")

    # Streams.
    ops = defaultdict(list)
    for e in complete:
        if e.get("cat") in GPU_CATEGORIES:
            ops[(e["pid"], e["tid"])].append(e)
    streams = {}
    stream_class = {}
    for key, stream_ops in sorted(ops.items()):
        intervals = [(e["ts"], e["ts"] + e["dur"]) for e in stream_ops]
        busy = covered({"op": intervals}, ["op"])
        span = max(end for _, end in intervals) - min(s for s, _ in intervals)
        streams[key] = (len(stream_ops), span, busy)
        total = sum(e["dur"] for e in stream_ops)
        communication = sum(e["dur"] for e in stream_ops
                            if COMMUNICATION.search(e["name"]))
        stream_class[key] = ("communication" if 2 * communication > total
                             else "compute")
        print("stream %s:%s ops %d span %d busy %d %s" %
              (key[0], key[1], len(stream_ops), span, busy, stream_class[key]))

    # Overlap per device (pid), streams classified as a whole.
    devices = {}
    for pid in sorted({key[0] for key in ops}):
        by_class = {"communication": [], "compute": []}
        for key, stream_ops in ops.items():
            if key[0] == pid:
                by_class[stream_class[key]] += [
                    (e["ts"], e["ts"] + e["dur"]) for e in stream_ops]
        communication = covered(by_class, ["communication"])
        compute = covered(by_class, ["compute"])
        both = covered(by_class, ["communication", "compute"])
        hidden = both / communication if communication else None
        devices[pid] = (communication, compute, both, hidden)
        print("device %s communication %d compute %d intersection %d "
              "hidden %.6f" % (pid, communication, compute, both, hidden))

    # Attribution: kernel -> launch call (correlation) -> innermost user
    # annotation on the launching thread enclosing the whole call.
    launches = {}
    for e in complete:
        if e.get("cat") in LAUNCH_CATEGORIES and \
                "correlation" in e.get("args", {}):
            launches.setdefault(e["args"]["correlation"], e)
    annotations = [(i, e) for i, e in enumerate(complete)
                   if e.get("cat") == "user_annotation"]
    gpu_time = defaultdict(lambda: [0, 0])
    for e in complete:
        if e.get("cat") not in GPU_CATEGORIES:
            continue
        launch = launches.get(e.get("args", {}).get("correlation"))
        name = None
        if launch is not None:
            enclosing = [
                (a["ts"], -a["dur"], i, a["name"]) for i, a in annotations
                if (a["pid"], a["tid"]) == (launch["pid"], launch["tid"])
                and a["ts"] <= launch["ts"]
                and launch["ts"] + launch["dur"] <= a["ts"] + a["dur"]]
            if enclosing:
                name = max(enclosing)[3]
        row = gpu_time[(name, e["pid"], e["tid"])]
        row[0] += 1
        row[1] += e["dur"]
    for (name, pid, tid), (count, time) in sorted(
            gpu_time.items(), key=lambda item: (item[0][0] is None,
                                                str(item[0]))):
        print("attribution %s %s:%s ops %d gpu %d" %
              (name if name is not None else "(unattributed)", pid, tid,
               count, time))

    # Compare with pw-prof.
    problems = []
    reported = {(s["pid"], s["tid"]): s for s in report["streams"]}
    if set(reported) != set(streams):
        problems.append("streams: pw-prof %s, expected %s" %
                        (sorted(reported), sorted(streams)))
    for key, (count, span, busy) in streams.items():
        s = reported.get(key)
        if s and (s["ops"], s["span_us"], s["busy_us"], s["class"]) != \
                (count, span, busy, stream_class[key]):
            problems.append("stream %s: pw-prof %s" % (key, s))
    reported_devices = {d["pid"]: d for d in report["overlap"]["devices"]}
    for pid, (communication, compute, both, hidden) in devices.items():
        d = reported_devices.get(pid)
        if d is None or (d["communication_busy_us"], d["compute_busy_us"],
                         d["intersection_us"]) != (communication, compute,
                                                   both) \
                or abs(d["hidden_fraction"] - hidden) > 1e-12:
            problems.append("device %s: pw-prof %s" % (pid, d))
    reported_rows = {(r["annotation"], r["pid"], r["tid"]):
                     (r["ops"], r["gpu_time_us"])
                     for r in report["attribution"]["rows"]}
    expected_rows = {key: tuple(value) for key, value in gpu_time.items()}
    if reported_rows != expected_rows:
        problems.append("attribution: pw-prof %s, expected %s" %
                        (reported_rows, expected_rows))
    for problem in problems:
        print("MISMATCH " + problem)
    if problems:
        return 1
    print("deepseek: pw-prof matches the independent computation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
