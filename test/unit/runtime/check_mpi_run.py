#!/usr/bin/env python3
"""Runs a program under mpirun and checks what the job did.

Checks the job's exit status, its output (regular expressions, optionally one
per rank), how long it took, the exit status of each rank (--rank-exits: each
rank runs under a shell that prints its status, so statuses survive
mpirun --enable-recovery, which would report 0) and a Chrome trace file.
Prints the output and the failed checks; exits non-zero if any failed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time


def check_trace(path, ranks, problems):
    try:
        with open(path) as f:
            trace = json.load(f)
    except (OSError, ValueError) as e:
        problems.append(f"trace {path}: not readable JSON: {e}")
        return
    slices = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    for rank in range(ranks):
        mine = [e for e in slices if e["pid"] == rank]
        for cat in ("kernel", "transfer"):
            if not any(e["cat"] == cat for e in mine):
                problems.append(f"trace: no {cat} slice of rank {rank}")
        names = {e["args"]["name"] for e in trace["traceEvents"]
                 if e.get("ph") == "M" and e["pid"] == rank
                 and e["name"] == "process_name"}
        if names != {f"rank {rank}"}:
            problems.append(f"trace: rank {rank} is named {names}")
    overlaps = []
    for transfer in (e for e in slices if e["cat"] == "transfer"):
        for kernel in (e for e in slices if e["cat"] == "kernel"):
            if (kernel["pid"] == transfer["pid"]
                    and kernel["tid"] != transfer["tid"]
                    and transfer["ts"] < kernel["ts"] + kernel["dur"]
                    and kernel["ts"] < transfer["ts"] + transfer["dur"]):
                overlaps.append((transfer["pid"], transfer["name"],
                                 kernel["name"]))
    if not overlaps:
        problems.append("trace: no transfer overlaps a kernel on its rank")
    else:
        print(f"trace: {len(slices)} slices, {len(overlaps)} transfer/kernel "
              f"overlaps, e.g. rank {overlaps[0][0]}: '{overlaps[0][1]}' "
              f"during '{overlaps[0][2]}'")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mpirun", required=True)
    parser.add_argument("--np", type=int, required=True)
    parser.add_argument("--recovery", action="store_true",
                        help="mpirun --enable-recovery: survivors keep running")
    parser.add_argument("--exit", choices=["zero", "nonzero"], required=True)
    parser.add_argument("--rank-exits", default="",
                        help="ranks (0,2) that must exit non-zero")
    parser.add_argument("--expect", action="append", default=[],
                        help="regex the output must match")
    parser.add_argument("--expect-each-rank", action="append", default=[],
                        help="regex with {rank}, matched for every rank")
    parser.add_argument("--ranks", default="",
                        help="ranks for --expect-each-rank (default: all)")
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--trace")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()

    env = dict(os.environ)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    if args.trace and os.path.exists(args.trace):
        os.remove(args.trace)
    command = [args.mpirun, "--allow-run-as-root", "--oversubscribe"]
    if args.recovery:
        command.append("--enable-recovery")
    command += ["-np", str(args.np)]
    if args.rank_exits:
        command += ["sh", "-c", '"$0" "$@"; echo "[rank '
                    '${OMPI_COMM_WORLD_RANK} exit $?]"']
    command += args.command

    begin = time.monotonic()
    try:
        run = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             timeout=args.max_seconds + 30)
        output, status = run.stdout, run.returncode
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b"").decode(errors="replace") \
            if isinstance(e.stdout, bytes) else (e.stdout or "")
        status = None
    seconds = time.monotonic() - begin
    print(" ".join(command))
    print(output)
    print(f"exit status {status} after {seconds:.2f} s")

    problems = []
    if status is None:
        problems.append("the job hung")
    elif (status == 0) != (args.exit == "zero"):
        problems.append(f"expected a {args.exit} exit status, got {status}")
    if seconds > args.max_seconds:
        problems.append(f"took {seconds:.1f} s, more than {args.max_seconds}")
    for pattern in args.expect:
        if not re.search(pattern, output, re.M):
            problems.append(f"output does not match: {pattern}")
    ranks = ([int(r) for r in args.ranks.split(",")] if args.ranks
             else list(range(args.np)))
    for template in args.expect_each_rank:
        for rank in ranks:
            pattern = template.replace("{rank}", str(rank))
            if not re.search(pattern, output, re.M):
                problems.append(f"rank {rank}: output does not match: "
                                f"{pattern}")
    if args.rank_exits:
        for rank in (int(r) for r in args.rank_exits.split(",")):
            found = re.search(rf"^\[rank {rank} exit (\d+)\]", output, re.M)
            if not found:
                problems.append(f"rank {rank}: no exit status")
            elif found.group(1) == "0":
                problems.append(f"rank {rank} exited with status 0")
    if args.trace and status is not None:
        check_trace(args.trace, args.np, problems)

    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
