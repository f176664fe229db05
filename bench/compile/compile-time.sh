#!/usr/bin/env bash
# Compile time of DualPipe specs down to C++ (pwc --emit=cpp) and to an
# object file (pwc --emit=obj) as the size grows: per size and output, the
# median wall seconds of PW_RUNS runs (default 3) with that run's user
# seconds, the peak memory and the output size. Above 8192 runtime calls in
# all, the generated code is a call table per rank (--codegen=auto); the
# last column says which form the C++ took. A benchmark: it reports, it
# does not assert. With PW_TIMING=1 it also prints pwc --timing (the wall
# time of each phase) for the largest size.
#   bench/compile/compile-time.sh [build-dir]
set -euo pipefail
build=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
pwc=$build/bin/pwc
runs=${PW_RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs pwc `runs` times; prints "wall user peak_MiB output_MiB" of the run
# with the median wall time.
measure() {
  local output=$1
  shift
  for ((run = 0; run < runs; ++run)); do
    /usr/bin/time -f '%e %U %M' -o "$work/time" "$pwc" "$@" -o "$output"
    cat "$work/time"
  done | sort -n | sed -n "$(((runs + 1) / 2))p" |
    while read -r wall user kib; do
      printf '%s %s %.1f %.1f\n' "$wall" "$user" "$(echo "$kib / 1024" | bc -l)" \
        "$(echo "$(stat -c %s "$output") / 1048576" | bc -l)"
    done
}

printf '%6s %6s %8s | %-31s | %-31s | %s\n' "" "" "" \
  "--emit=cpp" "--emit=obj" ""
printf '%6s %6s %8s | %7s %7s %7s %7s | %7s %7s %7s %7s | %s\n' ranks mbs \
  actions wall_s user_s peak_MB out_MB wall_s user_s peak_MB out_MB form
for size in "8 64" "16 256" "32 512" "64 1024"; do
  read -r ranks mbs <<< "$size"
  "$pwc" init --schedule dualpipe --ranks "$ranks" --microbatches "$mbs" \
      --activation-bytes 1024 |
    sed 's|^  // pipe.kernels forward = "stage_fwd", backward_input = "stage_bwd_in",$|  pipe.kernels forward = "f", backward_input = "bi", backward_weight = "bw", backward = "b"|' \
      > "$work/spec.mlir"
  actions=$("$pwc" "$work/spec.mlir" --emit=torch-csv | tr ',' '\n' | wc -l)
  read -r cpp_wall cpp_user cpp_peak cpp_size < <(measure "$work/out.cpp" \
    "$work/spec.mlir" --emit=cpp)
  read -r obj_wall obj_user obj_peak obj_size < <(measure "$work/out.o" \
    "$work/spec.mlir" --emit=obj)
  form=calls
  grep -q pwrt_cg_run "$work/out.cpp" && form=table
  printf '%6d %6d %8d | %7.2f %7.2f %7.1f %7.1f | %7.2f %7.2f %7.1f %7.1f | %s\n' \
    "$ranks" "$mbs" "$actions" "$cpp_wall" "$cpp_user" "$cpp_peak" \
    "$cpp_size" "$obj_wall" "$obj_user" "$obj_peak" "$obj_size" "$form"
done
if [[ ${PW_TIMING:-0} == 1 ]]; then
  "$pwc" "$work/spec.mlir" --emit=cpp -o "$work/out.cpp" --timing
fi
