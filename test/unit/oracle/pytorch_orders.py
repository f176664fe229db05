#!/usr/bin/env python3
"""Reference orders for the interleaved 1F1B, ZB-H1 and ZB-V generators.

A hand-written, plain-Python restatement (no torch import) of the per-rank
compute orders of three public references, used to produce the CSV fixtures
under test/unit/fixtures/pytorch/ that MoreGeneratorsTest.cpp compares the
C++ generators against:

* Interleaved 1F1B: PyTorch torch/distributed/pipelining/schedules.py
  (read at commit 00722e648b740f91d0e71494baa17891749fd291),
  ScheduleInterleaved1F1B._calculate_single_rank_operations together with
  _get_warmup_ops (multiply_factor=2) and _get_1f1b_rank_ops.
* ZB-H1: sail-sg/zero-bubble-pipeline-parallelism, branch `arxiv`,
  megatron/core/pipeline_parallel/efficiency.py, get_hand_schedule(...,
  warmup_c=1), the handcrafted schedule whose bubble the paper reports for
  ZB-H1. It only gives the F/B/W kind sequence; micro-batches are taken in
  ascending order per kind (first in, first out), as the paper's figure and
  the WeightGradStore queue do.
* ZB-V: PyTorch ScheduleZBVZeroBubble._calculate_single_rank_operations
  (same file and commit).

PyTorch pads its orders with None (idle slots); the fixtures keep only the
compute actions, one line per rank, cells in PyTorch's action text ("0F0",
"1I2", "0W2", "3B1") joined by commas -- the compute-only CSV form.

Usage: pytorch_orders.py [OUTPUT_DIR]   (default: ../fixtures/pytorch)
"""

import os
import sys


def interleaved_rules_ok(ranks, microbatches):
    """PyTorch's flexible interleaving rule: rounds = max(1, N // R) must
    divide N."""
    rounds = max(1, microbatches // ranks)
    return microbatches % rounds == 0


def interleaved_1f1b(ranks, local_stages, microbatches):
    """Per-rank compute order of PyTorch's ScheduleInterleaved1F1B."""
    assert local_stages >= 1 and interleaved_rules_ok(ranks, microbatches)
    rounds = max(1, microbatches // ranks)
    per_round = microbatches // rounds
    result = []
    for rank in range(ranks):
        ops_per_kind = local_stages * microbatches
        warmup = min((local_stages - 1) * per_round + 2 * (ranks - 1 - rank),
                     ops_per_kind)

        def stage_of_forward(k):
            return ((k // per_round) % local_stages) * ranks + rank

        def stage_of_backward(k):
            chunk = local_stages - 1 - (k // per_round) % local_stages
            return chunk * ranks + rank

        next_mb = {}

        def take(kind, stage):
            mb = next_mb.get((kind, stage), 0)
            next_mb[(kind, stage)] = mb + 1
            return f"{stage}{kind}{mb}"

        order = []
        # The reference numbers both forward and backward steps by the same
        # op counter; backward step k happens at op warmup + k.
        for op in range(ops_per_kind + warmup):
            if op < ops_per_kind:
                order.append(take("F", stage_of_forward(op)))
            if op >= warmup:
                order.append(take("B", stage_of_backward(op - warmup)))
        result.append(order)
    return result


def zero_bubble_h1(ranks, microbatches):
    """Per-rank compute order of sail-sg's handcrafted ZB-H1
    (get_hand_schedule with warmup_c=1), I standing for the paper's B."""
    assert microbatches >= ranks
    result = []
    for rank in range(ranks):
        warmup = ranks - rank - 1
        kinds = ["F"] * warmup
        for i in range(microbatches):
            if warmup + i < microbatches:
                kinds.append("F")
            kinds.append("I")
            if warmup + i >= ranks - 1:
                kinds.append("W")
        kinds += ["W"] * ((ranks - 1) - warmup)
        counters = {"F": 0, "I": 0, "W": 0}
        order = []
        for kind in kinds:
            order.append(f"{rank}{kind}{counters[kind]}")
            counters[kind] += 1
        result.append(order)
    return result


def interleaved_zero_bubble_one_stage(ranks, microbatches):
    """PyTorch's ScheduleInterleavedZeroBubble restricted to one stage per
    rank (its _get_1f1b_rank_ops with enable_zero_bubble=True): only used to
    cross-check that it yields the ZB-H1 compute order when N >= R."""
    rounds = max(1, microbatches // ranks)
    assert microbatches % rounds == 0
    result = []
    for rank in range(ranks):
        warmup = min(ranks - 1 - rank, microbatches)
        order = [f"{rank}F{mb}" for mb in range(warmup)]
        weights_done = 0
        for step in range(microbatches):  # step = op - warmup
            if warmup + step < microbatches:
                order.append(f"{rank}F{warmup + step}")
            order.append(f"{rank}I{step}")
            if step >= rank:
                order.append(f"{rank}W{weights_done}")
                weights_done += 1
        order += [f"{rank}W{mb}" for mb in range(weights_done, microbatches)]
        result.append(order)
    return result


def zero_bubble_v(ranks, microbatches):
    """Per-rank compute order of PyTorch's ScheduleZBVZeroBubble."""
    stages = 2 * ranks
    # The reference builds the order for at least 2R-1 micro-batches and
    # then blanks out the ones that do not exist.
    padded = max(2 * ranks - 1, microbatches)
    result = []
    for rank in range(ranks):
        down, up = rank, stages - 1 - rank
        count = {(s, k): 0 for s in (down, up) for k in "FIW"}
        order = []

        def emit(stage, kind, mb=None):
            if mb is None:
                mb = count[(stage, kind)]
                count[(stage, kind)] += 1
            order.append((stage, kind, mb))

        for _ in range(2 * (ranks - rank) - 1):
            emit(down, "F")
        for _ in range(rank):
            emit(up, "F")
            emit(down, "F")
        for _ in range(ranks - rank):
            emit(up, "F")
            emit(up, "I")
            emit(up, "W")
        while (count[(up, "F")] < count[(down, "F")]
               or count[(down, "F")] < padded):
            if count[(down, "F")] < padded:
                emit(down, "F")
            emit(down, "I")
            emit(down, "W")
            emit(up, "F")
            emit(up, "I")
            emit(up, "W")
        # Cool-down: W counters restart from where the I counters stood.
        for _ in range(rank):
            emit(down, "I")
            emit(up, "I")
        for _ in range(ranks - rank):
            emit(down, "I")
            emit(down, "W")
        while count[(up, "W")] < count[(up, "I")]:
            emit(up, "W")
        while count[(down, "W")] < count[(down, "I")]:
            emit(down, "W")
        for stage in (down, up):
            assert (count[(stage, "F")] == count[(stage, "I")] ==
                    count[(stage, "W")] == padded)
        result.append(
            [f"{s}{k}{mb}" for (s, k, mb) in order if mb < microbatches])
    return result


def to_csv(order):
    return "".join(",".join(actions) + "\n" for actions in order)


def grid():
    """(kind, ranks, stages per rank, micro-batches, file name)."""
    cases = []
    for ranks in range(1, 7):
        for local_stages in (2, 3, 4):
            if local_stages == 4 and ranks > 4:
                continue
            sizes = {1, 2, 3, ranks - 1, ranks, ranks + 1, ranks + 2,
                     2 * ranks, 2 * ranks + 2, 3 * ranks}
            for n in sorted(s for s in sizes if s >= 1):
                if interleaved_rules_ok(ranks, n):
                    cases.append(("interleaved-1f1b", ranks, local_stages, n,
                                  f"interleaved_r{ranks}_v{local_stages}"
                                  f"_n{n}.csv"))
    for ranks in range(1, 9):
        for n in sorted({ranks, ranks + 1, 2 * ranks, 3 * ranks + 1}):
            cases.append(("zb-h1", ranks, 1, n, f"zbh1_r{ranks}_n{n}.csv"))
    for ranks in range(1, 9):
        for n in sorted({1, ranks, 2 * ranks - 1, 2 * ranks, 3 * ranks + 1}):
            cases.append(("zb-v", ranks, 2, n, f"zbv_r{ranks}_n{n}.csv"))
    return cases


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = (sys.argv[1] if len(sys.argv) > 1 else
               os.path.join(here, "..", "fixtures", "pytorch"))
    os.makedirs(out_dir, exist_ok=True)

    # ZB-H1 (sail-sg) and PyTorch's one-stage zero bubble agree for N >= R.
    for ranks in range(1, 13):
        for n in range(ranks, 4 * ranks + 3):
            if n % max(1, n // ranks) == 0:
                assert (zero_bubble_h1(ranks, n) ==
                        interleaved_zero_bubble_one_stage(ranks, n)), (ranks, n)

    manifest = []
    for kind, ranks, local_stages, n, name in grid():
        if kind == "interleaved-1f1b":
            order = interleaved_1f1b(ranks, local_stages, n)
        elif kind == "zb-h1":
            order = zero_bubble_h1(ranks, n)
        else:
            order = zero_bubble_v(ranks, n)
        with open(os.path.join(out_dir, name), "w", newline="\n") as f:
            f.write(to_csv(order))
        manifest.append(f"{kind} {ranks} {local_stages} {n} {name}\n")
    with open(os.path.join(out_dir, "manifest.txt"), "w", newline="\n") as f:
        f.write("# kind ranks stages-per-rank microbatches file; generated by "
                "test/unit/oracle/pytorch_orders.py\n")
        f.writelines(manifest)


if __name__ == "__main__":
    main()
