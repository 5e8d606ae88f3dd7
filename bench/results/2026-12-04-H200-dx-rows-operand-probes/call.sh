#!/usr/bin/env bash
# Probe call: which operand the dX rows (multicast bf16 GEMM) read again at 30B-n1024. One binary (v20 + probe
# defines, wrong results by design): def, noa (SY_PROBE_MC_NO_A: B only), nob (SY_PROBE_MC_NO_B: A only), and def in
# column chunks of 2048 (c2048: each expert's W1 slice 8 MiB instead of 16). ncu of the kernel's launches, then the
# backward of def and c2048 at 30B-n1024 with the PyTorch baseline.
set -u
o=/tmp/c17; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="%s" exec %s "$@" %s\n' "$2" "$u" "$3" > carry/$1; chmod +x carry/$1; }
mk def "" "--weight-gradients bf16"; mk noa "SY_PROBE_MC_NO_A" "--weight-gradients bf16"; mk nob "SY_PROBE_MC_NO_B" "--weight-gradients bf16"
mk c2048 "" "--weight-gradients bf16 --chunk-columns 2048"
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv > $o/env.txt; cat $o/env.txt
carry/def bench --device cuda --shape 1.4B-n256 --iterations 1 --warmup 0 --warmup-seconds 0 > /dev/null 2>&1  # kernel cache
for b in def noa nob c2048; do
  timeout 80 ncu --clock-control none -k 'regex:coop_mc_ts_ta_ov' --launch-count 6 --csv --print-units base \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__cycles_elapsed.avg.per_second \
    carry/$b bench --device cuda --backward --shape 30B-n1024 --warmup 0 --warmup-seconds 0 --iterations 1 > $o/ncu-$b.csv 2>/dev/null
  echo "== ncu $b 30B-n1024"; python3 bench/ncu_summary.py --launches $o/ncu-$b.csv
done
tar czf $OUT/all.tgz -C $o .
timeout 200 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "30B-n1024" carry/def carry/c2048 > $o/ab.log 2>&1
grep -E "^==|30B-n1024" $o/ab/compare.md | cut -c1-200
tar czf $OUT/all.tgz -C $o .
