#!/usr/bin/env bash
# Traffic probe: does L2 → SM traffic cost the power-capped GEMM time? The multicast bf16 GEMM with A loaded a second
# time into its staging (xa: +16 KiB per CTA and k-step, +50% of its L2 reads) and with A and B's half both again
# (xab: +100%), the MMAs and their operands unchanged (results wrong by design). ncu at 30B-n1024 on the kernel's
# launches (down-projection twice, dX rows). 00be53a's kernels plus the probe defines.
set -u
o=/tmp/c20; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="%s" exec %s "$@" %s\n' "$2" "$u" "$3" > carry/$1; chmod +x carry/$1; }
mk def "" "--weight-gradients bf16"; mk xa "SY_PROBE_MC_EXTRA_A" "--weight-gradients bf16"; mk xab "SY_PROBE_MC_EXTRA_AB" "--weight-gradients bf16"
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv > $o/env.txt; cat $o/env.txt
carry/def bench --device cuda --shape 1.4B-n256 --iterations 1 --warmup 0 --warmup-seconds 0 > /dev/null 2>&1
for b in def xa xab def; do
  timeout 80 ncu --clock-control none -k 'regex:coop_mc_ts_ta_ov' --launch-count 3 --csv --print-units base \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,lts__t_bytes.sum,lts__t_sector_hit_rate.pct,sm__cycles_elapsed.avg.per_second \
    carry/$b bench --device cuda --backward --shape 30B-n1024 --warmup 0 --warmup-seconds 0 --iterations 1 > $o/ncu-$b-$RANDOM.csv 2>/dev/null
done
for f in $o/ncu-*.csv; do echo "== $(basename $f)"; python3 bench/ncu_summary.py --launches $f; done
tar czf $OUT/all.tgz -C $o .
