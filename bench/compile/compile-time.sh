#!/usr/bin/env bash
# Compile time of DualPipe specs down to C++ (pwc --emit=cpp) as the size
# grows: wall seconds, peak memory and output size per size. A benchmark:
# it reports, it does not assert.
#   bench/compile/compile-time.sh [build-dir]
set -euo pipefail
build=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
pwc=$build/bin/pwc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%6s %6s %10s %10s %12s %12s\n' ranks mbs actions seconds peak_MiB cpp_MiB
for size in "8 64" "16 256" "32 512" "64 1024"; do
  read -r ranks mbs <<< "$size"
  "$pwc" init --schedule dualpipe --ranks "$ranks" --microbatches "$mbs" \
      --activation-bytes 1024 |
    sed 's|^  // pipe.kernels forward = "stage_fwd", backward_input = "stage_bwd_in",$|  pipe.kernels forward = "f", backward_input = "bi", backward_weight = "bw", backward = "b"|' \
      > "$work/spec.mlir"
  actions=$("$pwc" "$work/spec.mlir" --emit=torch-csv | tr ',' '\n' | wc -l)
  /usr/bin/time -f '%e %M' -o "$work/time" \
    "$pwc" "$work/spec.mlir" --emit=cpp -o "$work/out.cpp"
  read -r seconds kib < "$work/time"
  printf '%6d %6d %10d %10.2f %12.1f %12.1f\n' "$ranks" "$mbs" "$actions" \
    "$seconds" "$(echo "$kib / 1024" | bc -l)" \
    "$(echo "$(stat -c %s "$work/out.cpp") / 1048576" | bc -l)"
done
