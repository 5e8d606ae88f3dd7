#!/usr/bin/env bash
# v20 call: L2 eviction hints. One binary, variants by SWITCHYARD_KERNEL_DEFINES: base (none), cb (the bf16 GEMM's
# C stores evict_first, its B loads evict_last), all (cb + dH's and the weight gradients' stores evict_first).
# Short checks of "all", ncu of the backward's GEMMs at 30B-n1024 for base and all, then the A/B with PyTorch.
set -u
o=/tmp/c14; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="%s" exec %s "$@" %s\n' "$2" "$u" "$3" > carry/$1; chmod +x carry/$1; }
mk base "" "--weight-gradients bf16"; mk cb "SY_C_EVICT_FIRST SY_B_EVICT_LAST" "--weight-gradients bf16"
mk all "SY_C_EVICT_FIRST SY_B_EVICT_LAST SY_DH_EVICT_FIRST SY_WG_EVICT_FIRST" "--weight-gradients bf16"
mk allcheck "SY_C_EVICT_FIRST SY_B_EVICT_LAST SY_DH_EVICT_FIRST SY_WG_EVICT_FIRST" ""
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv > $o/env.txt; cat $o/env.txt
SANITIZE=0 FWD_CASES=6 BWD_CASES=10 EP_CASES=2 timeout 120 bench/gpu_checks.sh carry/allcheck $o; cat $o/check.txt
for b in base all; do
  timeout 60 ncu --clock-control none -k 'regex:coop_mc_ts_ta_ov|dswiglu_ws|weight_grad_tma_bf16' --launch-count 7 --csv --print-units base \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,lts__t_sector_hit_rate.pct,sm__cycles_elapsed.avg.per_second \
    carry/$b bench --device cuda --backward --shape 30B-n1024 --warmup 0 --warmup-seconds 0 --iterations 1 > $o/ncu-$b.csv 2>/dev/null
  echo "== ncu $b 30B-n1024"; python3 bench/ncu_summary.py --launches $o/ncu-$b.csv
done
tar czf $OUT/all.tgz -C $o .
timeout 330 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "30B-n256 30B-n1024" carry/base carry/cb carry/all > $o/ab.log 2>&1
grep -E "^==|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
tar czf $OUT/all.tgz -C $o .
