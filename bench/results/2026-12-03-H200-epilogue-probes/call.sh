#!/usr/bin/env bash
# Probes of where the backward's GEMMs lose time (bench/experiments/epilogue-probes.patch applied to 516e961; its
# defaults are 516e961's kernels): with SWITCHYARD_KERNEL_DEFINES, "probe" drops the epilogues of the weight
# gradients (no fp32 stores), of the multicast bf16 GEMM (down-projection, dX rows) and of the dH kernel (H stages
# waited for and released, nothing computed or stored); "w0" makes the weight gradients wait for every k-step's
# wgmmas and load three stages ahead instead of two. Probe outputs are wrong by design: timing only.
set -u
o=/tmp/c2; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="SY_PROBE_WG_NO_STORE SY_PROBE_BF16_NO_EPILOGUE SY_PROBE_DH_NO_EPILOGUE" exec %s "$@"\n' "$u" > carry/probe
printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="SY_WG_W=0" exec %s "$@"\n' "$u" > carry/w0; chmod +x carry/probe carry/w0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
timeout 60 $u check --device cuda --backward --cases 8 --seed 5 2>&1 | tail -1 | sed 's/^/default: /' | tee $o/check.txt
timeout 60 carry/w0 check --device cuda --backward --cases 8 --seed 5 2>&1 | tail -1 | sed 's/^/w0: /' | tee -a $o/check.txt
cp $o/check.txt $OUT/
NCU_ALL_SHAPES="30B-n256 30B-n1024" timeout 420 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/probe carry/w0 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
cat $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
