#!/usr/bin/env python3
"""Test oracle for pipeweave's DualPipe / DualPipeV generators.

A hand-written, torch-free re-enactment of the per-rank control flow of
DeepSeek's reference `DualPipe.step` and `DualPipeV.step`
(github.com/deepseek-ai/DualPipe, dualpipe/dualpipe.py and dualpipev.py).
Each rank is replayed separately: instead of running modules it records which
compute call the reference would make, in PyTorch pipelining's action text:

  _forward_chunk            -> "<stage>F<mb>"
  _backward_chunk           -> "<stage>B<mb>", or "<stage>I<mb>" with
                               enable_zb (its weight gradient is queued)
  _forward_backward_chunk   -> "(<sF>F<mF>;<sB>B<mB>)OVERLAP_F_B"
  _weight_chunk             -> "<stage>W<mb>" of the oldest queued I (FIFO)

Communication calls do not change the compute order and are left out.

The oracle deliberately mirrors the reference's structure (per-phase chunk
counters, a FIFO of weight chunks, the eight steps with the same loop bounds
and the same special cases) rather than any closed form, so that it checks
the C++ generator independently.

Usage:
  dualpipe_oracle.py dualpipe R N         # print the CSV
  dualpipe_oracle.py dualpipev R N
  dualpipe_oracle.py grid OUT_DIR         # write the test grid (CSVs and
                                          # manifest.txt with digests)
  dualpipe_oracle.py check FIXTURE_DIR    # compare with DeepSeek fixtures
"""

import collections
import os
import sys


class RankReplay:
    """The compute calls one rank makes during one training step."""

    def __init__(self, stage_of_module, swap_phases):
        # stage_of_module[m]: global stage number of module m on this rank
        # (m = 0: forward-direction chunk, m = 1: the other chunk).
        self.stage_of_module = stage_of_module
        # DualPipe's second-half ranks read the step's phase 0 as module 1.
        self.swap_phases = swap_phases
        self.next_forward = [0, 0]
        self.next_backward = [0, 0]
        self.weight_queue = collections.deque()
        self.actions = []

    def _module(self, phase):
        return phase ^ 1 if self.swap_phases else phase

    def _take_forward(self, phase):
        module = self._module(phase)
        mb = self.next_forward[module]
        self.next_forward[module] += 1
        return self.stage_of_module[module], mb

    def _take_backward(self, phase):
        module = self._module(phase)
        mb = self.next_backward[module]
        self.next_backward[module] += 1
        return self.stage_of_module[module], mb

    def forward(self, phase):
        stage, mb = self._take_forward(phase)
        self.actions.append("%dF%d" % (stage, mb))

    def backward(self, phase, enable_zb=False):
        stage, mb = self._take_backward(phase)
        if enable_zb:
            self.actions.append("%dI%d" % (stage, mb))
            self.weight_queue.append((stage, mb))
        else:
            self.actions.append("%dB%d" % (stage, mb))

    def forward_backward(self, forward_phase, backward_phase):
        f_stage, f_mb = self._take_forward(forward_phase)
        b_stage, b_mb = self._take_backward(backward_phase)
        self.actions.append(
            "(%dF%d;%dB%d)OVERLAP_F_B" % (f_stage, f_mb, b_stage, b_mb))

    def weight(self):
        assert self.weight_queue, "Pop empty queue."
        stage, mb = self.weight_queue.popleft()
        self.actions.append("%dW%d" % (stage, mb))


def run_steps(replay, span, position, chunks, is_turn_rank):
    """The eight steps shared by both references.

    DualPipe: span = ranks / 2, position = half_rank, chunks = N / 2,
    is_turn_rank = is_middle_rank.  DualPipeV: span = ranks,
    position = rank, chunks = N, is_turn_rank = is_last_rank.
    """
    # Step 1: nF0
    for _ in range((span - position - 1) * 2):
        replay.forward(0)
    # Step 2: nF0F1
    for _ in range(position + 1):
        replay.forward(0)
        replay.forward(1)
    # Step 3: nB1W1F1 (zero bubble)
    for _ in range(span - position - 1):
        replay.backward(1, enable_zb=True)
        replay.weight()
        replay.forward(1)
    # Step 4 (main): nF0B1F1B0
    for i in range(chunks - 2 * span + position + 1):
        if i == 0 and is_turn_rank:
            # The reference does not overlap this first pair.
            replay.forward(0)
            replay.backward(1)
        else:
            replay.forward_backward(0, 1)
        replay.forward_backward(1, 0)
    # Step 5: nB1F1B0
    for _ in range(span - position - 1):
        replay.backward(1)
        replay.forward_backward(1, 0)
    # Step 6: nB1B0 (the second half of the chunks use zero bubble)
    steps = position + 1
    enable_zb = False
    for i in range(steps):
        if i == steps // 2 and position % 2 == 1:
            enable_zb = True
        replay.backward(1, enable_zb=enable_zb)
        if i == steps // 2 and position % 2 == 0:
            enable_zb = True
        replay.backward(0, enable_zb=enable_zb)
    # Step 7: nWB0 (zero bubble)
    for _ in range(span - position - 1):
        replay.weight()
        replay.backward(0, enable_zb=True)
    # Step 8: nW
    for _ in range(position + 1):
        replay.weight()
    assert not replay.weight_queue


def dualpipe(ranks, chunks):
    # The reference's own asserts.
    assert ranks % 2 == 0
    assert chunks > 0 and chunks % 2 == 0 and chunks >= ranks * 2
    half = ranks // 2
    rows = []
    for rank in range(ranks):
        half_rank = min(rank, ranks - 1 - rank)
        replay = RankReplay([rank, 2 * ranks - 1 - rank],
                            swap_phases=rank >= half)
        run_steps(replay, half, half_rank, chunks // 2,
                  is_turn_rank=rank in (half - 1, half))
        rows.append(replay.actions)
    return rows


def dualpipev(ranks, chunks):
    assert chunks > 0 and chunks >= ranks * 2
    rows = []
    for rank in range(ranks):
        replay = RankReplay([rank, 2 * ranks - 1 - rank], swap_phases=False)
        run_steps(replay, ranks, rank, chunks, is_turn_rank=rank == ranks - 1)
        rows.append(replay.actions)
    return rows


def to_csv(rows):
    return "".join(",".join(row) + "\n" for row in rows)


GENERATORS = {"dualpipe": dualpipe, "dualpipev": dualpipev}

# Sizes up to this many ranks are committed as CSV (readable diffs); larger
# ones only as a digest, to keep the fixtures small.
CSV_MAX_RANKS = 8


def grid():
    """(kind, ranks, micro-batches) of the committed oracle fixtures."""
    sizes = []
    for ranks in list(range(2, 17, 2)) + [24, 32]:
        counts = {2 * ranks, 2 * ranks + 2, 4 * ranks, 64}
        if (3 * ranks) % 2 == 0:
            counts.add(3 * ranks)
        sizes += [("dualpipe", ranks, n) for n in sorted(counts)]
    for ranks in list(range(1, 17)) + [24, 31, 32]:
        # DualPipeV has no parity rule: odd counts are included.
        counts = {2 * ranks, 2 * ranks + 1, 3 * ranks, 4 * ranks}
        sizes += [("dualpipev", ranks, n) for n in sorted(counts)]
    return sizes


def fixture_name(kind, ranks, chunks):
    return "%s_r%d_mb%d.csv" % (kind, ranks, chunks)


def fnv1a64(text):
    """64-bit FNV-1a of the UTF-8 bytes (the C++ test computes the same)."""
    digest = 0xCBF29CE484222325
    for byte in text.encode():
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return digest


def write_grid(out_dir):
    """CSV files for small sizes, and manifest.txt listing every size:
    "<kind> <ranks> <micro-batches> <fnv1a64 hex of the CSV> <file or ->"."""
    os.makedirs(out_dir, exist_ok=True)
    lines = ["# Generated by test/unit/oracle/dualpipe_oracle.py grid; "
             "do not edit.",
             "# kind ranks microbatches fnv1a64(csv) csv-file-or-dash"]
    for kind, ranks, chunks in grid():
        text = to_csv(GENERATORS[kind](ranks, chunks))
        name = "-"
        if ranks <= CSV_MAX_RANKS:
            name = fixture_name(kind, ranks, chunks)
            with open(os.path.join(out_dir, name), "w", newline="\n") as out:
                out.write(text)
        lines.append("%s %d %d %016x %s" % (kind, ranks, chunks,
                                            fnv1a64(text), name))
    with open(os.path.join(out_dir, "manifest.txt"), "w",
              newline="\n") as out:
        out.write("\n".join(lines) + "\n")


def main(argv):
    if len(argv) == 4 and argv[1] in GENERATORS:
        sys.stdout.write(to_csv(GENERATORS[argv[1]](int(argv[2]),
                                                    int(argv[3]))))
        return 0
    if len(argv) == 3 and argv[1] == "grid":
        write_grid(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "check":
        failed = False
        for kind, ranks, chunks in [("dualpipe", 8, 20), ("dualpipev", 4, 10)]:
            name = fixture_name(kind, ranks, chunks)
            with open(os.path.join(argv[2], name), newline="") as f:
                expected = f.read()
            same = to_csv(GENERATORS[kind](ranks, chunks)) == expected
            print("%s: %s" % (name, "identical" if same else "DIFFERENT"))
            failed |= not same
        return 1 if failed else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
