#!/usr/bin/env bash
# The A-free forward (docs/kernel-notes.md, "What is left", item 8) against the forward that keeps A: checks with
# SWITCHYARD_A_FROM_H=prefetch (each case that takes the A-free path is run again with A kept: O and H must have the
# same bytes) and =tanh (σ by tanh.approx; compared with float64 only), forward and backward; then 1.4B-n256,
# 7B-n256 and 30B-n1024 with A kept and without, in the default chunks and in 256 columns, and 1.4B-n256 under
# SonicMoE's 0.57 GiB by --activation-budget, with the PyTorch baseline in the same call.
# (The first run, on 2026-12-05, also timed SWITCHYARD_A_FROM_H=simple: the slowest of the three.)
# usage: bench/experiments/a-from-h.sh BINARY BASELINE_SCRIPT OUT_DIR
set -uo pipefail
bin=$1; baseline=$2; out=$3
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,power.limit,uuid --format=csv > "$out/env.txt"
for v in prefetch tanh; do
  SWITCHYARD_A_FROM_H=$v timeout 100 "$bin" check --device cuda --cases 16 > "$out/check-fwd-ah-$v.txt" 2>&1
  echo "A from H ($v): forward $(tail -1 "$out/check-fwd-ah-$v.txt"), $(grep -c "A from H" "$out/check-fwd-ah-$v.txt") cases A-free, $(grep -c "same bytes as A kept" "$out/check-fwd-ah-$v.txt") with the same bytes as A kept" | tee -a "$out/check.txt"
  SWITCHYARD_A_FROM_H=$v timeout 150 "$bin" check --device cuda --backward --cases 24 > "$out/check-bwd-ah-$v.txt" 2>&1
  echo "A from H ($v): backward $(tail -1 "$out/check-bwd-ah-$v.txt")" | tee -a "$out/check.txt"
done
python3 "$baseline" "$out/torch.json" > "$out/torch.txt" 2>&1
for run in keep-default keep-256 prefetch-256 tanh-256 tanh-default; do
  mode=${run%-*}; cc=${run##*-}
  env=(); [[ $mode != keep ]] && env=(SWITCHYARD_A_FROM_H=$mode)
  cols=(); [[ $cc != default ]] && cols=(--chunk-columns "$cc")
  env "${env[@]}" timeout 90 "$bin" bench --device cuda --backward --weight-gradients bf16 \
    --shape 1.4B-n256 --shape 7B-n256 --shape 30B-n1024 "${cols[@]}" --json "$out/$run.json" > "$out/$run.txt" 2>&1
  python3 "$(dirname "$0")/../compare.py" "$out/$run.json" "$out/torch.json" "$out/compare-$run.md" > /dev/null
  echo "== $run"; cut -c1-220 "$out/compare-$run.md"
done
for v in prefetch tanh; do
  SWITCHYARD_A_FROM_H=$v timeout 60 "$bin" bench --device cuda --backward --weight-gradients bf16 --shape 1.4B-n256 \
    --activation-budget 0.57 --json "$out/budget-0.57-$v.json" > "$out/budget-0.57-$v.txt" 2>&1
  echo "== budget 0.57 ($v)"; tail -3 "$out/budget-0.57-$v.txt"
done
