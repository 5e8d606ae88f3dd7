#!/usr/bin/env bash
# The first GPU run of the experimental A-free forward (docs/kernel-notes.md, "What is left", item 8), both
# producers: SWITCHYARD_A_FROM_H=1 (sy_gemm_bf16_coop_mc_ts_ah: each k-step's loads of H, then its SwiGLU) and
# =prefetch (sy_gemm_bf16_coop_mc_ts_ahp: the next step's loads in flight while the producer waits). The checks with
# each (the cases whose chunks suit the multicast kernel take the new path; the rest run as before), then 1.4B-n256,
# 7B-n256 and 30B-n1024 with A kept and without, in the default chunks and in 256 columns, with the PyTorch
# baseline in the same call.
# usage: bench/experiments/a-from-h.sh BINARY BASELINE_SCRIPT OUT_DIR
set -uo pipefail
bin=$1; baseline=$2; out=$3
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,power.limit,uuid --format=csv > "$out/env.txt"
for v in prefetch 1; do
  SWITCHYARD_A_FROM_H=$v timeout 100 "$bin" check --device cuda --cases 16 > "$out/check-fwd-ah-$v.txt" 2>&1
  echo "A from H ($v): forward $(tail -1 "$out/check-fwd-ah-$v.txt")" | tee -a "$out/check.txt"
done
SWITCHYARD_A_FROM_H=prefetch timeout 150 "$bin" check --device cuda --backward --cases 24 > "$out/check-bwd-ah-prefetch.txt" 2>&1
echo "A from H (prefetch): backward $(tail -1 "$out/check-bwd-ah-prefetch.txt")" | tee -a "$out/check.txt"
python3 "$baseline" "$out/torch.json" > "$out/torch.txt" 2>&1
for run in keep-default keep-256 prefetch-256 1-256 prefetch-default; do
  mode=${run%-*}; cc=${run##*-}
  env=(); [[ $mode != keep ]] && env=(SWITCHYARD_A_FROM_H=$mode)
  cols=(); [[ $cc != default ]] && cols=(--chunk-columns "$cc")
  env "${env[@]}" timeout 90 "$bin" bench --device cuda --backward --weight-gradients bf16 \
    --shape 1.4B-n256 --shape 7B-n256 --shape 30B-n1024 "${cols[@]}" --json "$out/$run.json" > "$out/$run.txt" 2>&1
  python3 "$(dirname "$0")/../compare.py" "$out/$run.json" "$out/torch.json" "$out/compare-$run.md" > /dev/null
  echo "== $run"; cut -c1-220 "$out/compare-$run.md"
done
