#!/usr/bin/env bash
# A/B timing in one GPU call: each binary's `bench --backward` on the given shapes, twice in alternation (the
# second round shows the run-to-run spread), the PyTorch baseline once with each run's ratios to it (compare.py,
# into compare.md), and optionally ncu's per-kernel times.
# usage: bench/ab_gpu.sh OUT_DIR BASELINE_SCRIPT "SHAPE..." BINARY...   (NCU_SHAPES="30B-n256 ..." adds ncu runs
# of the last binary, NCU_ALL_SHAPES of every binary; binaries ending in .gz or .xz are unpacked first)
set -uo pipefail
out=$1; baseline=$2; shapes=$3; shift 3
mkdir -p "$out"
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
bins=()
for b in "$@"; do bins+=("$("$(dirname "$0")/unpack_binary.sh" "$b")"); done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit,uuid --format=csv | tee "$out/env.txt"
args=(); for s in $shapes; do args+=(--shape "$s"); done
for round in 1 2; do
  for b in "${bins[@]}"; do
    name=$(basename "$b")
    echo "== $name round $round" | tee -a "$out/bench.txt"
    "$b" bench --device cuda --backward "${args[@]}" --json "$out/$name-r$round.json" 2>&1 | tee -a "$out/bench.txt"
  done
done
python3 "$baseline" "$out/torch.json" 2>&1 | tee "$out/torch.txt"
for j in "$out"/*-r[12].json; do  # ratios against the baseline of this call
  echo "== $(basename "$j")" >> "$out/compare.md"
  python3 "$(dirname "$0")/compare.py" "$j" "$out/torch.json" >> "$out/compare.md"
done
# ncu: the last binary on NCU_SHAPES, and every binary on NCU_ALL_SHAPES.
ncu_one() {
  local b=$1 s=$2 f="$out/ncu-$(basename "$1")-$2.csv" settle=()
  # One profiled pass: no time-based warm-up (binaries from before ab1636a do not know the option).
  "$b" bench --help 2>/dev/null | grep -q -- --warmup-seconds && settle=(--warmup-seconds 0)
  ncu --clock-control none --csv --print-units base \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes.sum \
    "$b" bench --device cuda --backward --shape "$s" --warmup 0 "${settle[@]}" --iterations 1 > "$f" 2>/dev/null
  python3 "$(dirname "$0")/ncu_summary.py" "$f" | tee -a "$out/ncu.txt"
}
for s in ${NCU_ALL_SHAPES:-}; do for b in "${bins[@]}"; do ncu_one "$b" "$s"; done; done
for s in ${NCU_SHAPES:-}; do ncu_one "${bins[-1]}" "$s"; done
