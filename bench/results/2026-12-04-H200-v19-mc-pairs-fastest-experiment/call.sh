#!/usr/bin/env bash
# v19 call: the multicast bf16 GEMM's item order. One binary: "new" (a group's pairs fastest, the default) against
# "old" (SWITCHYARD_KERNEL_DEFINES=SY_MC_PAIRS_OUTER), bf16 dW. Checks of the default (fewer cases: the device budget's
# end), ncu of the bf16 GEMM's launches at 30B-n1024 for both, then two settled rounds each with the PyTorch baseline.
set -u
o=/tmp/c12; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES=SY_MC_PAIRS_OUTER exec %s "$@" --weight-gradients bf16\n' "$u" > carry/old; chmod +x carry/old
printf '#!/bin/sh\nexec %s "$@" --weight-gradients bf16\n' "$u" > carry/new; chmod +x carry/new
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv > $o/env.txt
FWD_CASES=12 BWD_CASES=16 EP_CASES=6 timeout 170 bench/gpu_checks.sh $u $o; cat $o/check.txt; grep -E "FAIL" $o/check-fwd.txt $o/check-bwd.txt | head -5
tar czf $OUT/all.tgz -C $o .
for b in old new; do
  timeout 40 ncu --clock-control none -k 'regex:coop_mc_ts_ta_ov' --launch-count 3 --csv --print-units base \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,lts__t_sector_hit_rate.pct,sm__cycles_elapsed.avg.per_second \
    carry/$b bench --device cuda --backward --shape 30B-n1024 --warmup 0 --warmup-seconds 0 --iterations 1 > $o/ncu-$b.csv 2>/dev/null
  echo "== ncu $b 30B-n1024 (down-projection, dX rows, router dX)"; python3 bench/ncu_launches.py $o/ncu-$b.csv
done
tar czf $OUT/all.tgz -C $o .
timeout 200 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "30B-n256 30B-n1024" carry/old carry/new > $o/ab.log 2>&1
grep -E "^==|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-220
tar czf $OUT/all.tgz -C $o .
