#!/usr/bin/env bash
# v20.1 call: A's L2 policy in the multicast bf16 GEMM. One binary: def (v20: B evict_last, C evict_first), alast
# (SY_A_EVICT_LAST: A evict_last too), none (SY_NO_L2_HINTS). ncu of the kernel's launches at 30B-n1024 for each
# (forward down-projection twice, then the dX rows), then the A/B of def and alast with the PyTorch baseline.
set -u
o=/tmp/c16; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="%s" exec %s "$@" %s\n' "$2" "$u" "$3" > carry/$1; chmod +x carry/$1; }
mk def "" "--weight-gradients bf16"; mk alast "SY_A_EVICT_LAST" "--weight-gradients bf16"; mk none "SY_NO_L2_HINTS" "--weight-gradients bf16"
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv > $o/env.txt; cat $o/env.txt
for b in def alast none; do
  timeout 45 ncu --clock-control none -k 'regex:coop_mc_ts_ta_ov' --launch-count 3 --csv --print-units base \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,lts__t_sector_hit_rate.pct,sm__cycles_elapsed.avg.per_second \
    carry/$b bench --device cuda --backward --shape 30B-n1024 --warmup 0 --warmup-seconds 0 --iterations 1 > $o/ncu-$b.csv 2>/dev/null
  echo "== ncu $b 30B-n1024"; python3 bench/ncu_summary.py --launches $o/ncu-$b.csv
done
tar czf $OUT/all.tgz -C $o .
timeout 260 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "30B-n256 30B-n1024" carry/def carry/alast > $o/ab.log 2>&1
grep -E "^==|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
tar czf $OUT/all.tgz -C $o .
