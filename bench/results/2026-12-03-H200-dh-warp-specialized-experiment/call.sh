#!/usr/bin/env bash
# dH on the warp-specialized structure (SWITCHYARD_DH_KERNEL=ws, bench/experiments/dh-warp-specialized.patch applied
# to 8e46153) against the one-role dH (the default of the same binary): a smoke check that stops the call on a
# failure or hang, checks with a fresh seed, the expert-parallel check, A/B with the PyTorch baseline and ncu at
# 30B-n256, sanitizers.
set -u
o=/tmp/c1; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
printf '#!/bin/sh\nSWITCHYARD_DH_KERNEL=ws exec %s "$@"\n' "$u" > carry/ws; chmod +x carry/ws
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
timeout 100 carry/ws check --device cuda --backward --cases 6 --seed 17 > $o/smoke.txt 2>&1; echo "exit $?" >> $o/smoke.txt
tail -2 $o/smoke.txt
grep -q " 0 failed" $o/smoke.txt || { echo "smoke failed; stopping"; cp $o/* $OUT/; exit 1; }
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 90 carry/ws check --device cuda --cases 24 --seed $s 2>&1 | tail -1 | sed "s/^/ws forward: /" >> $o/check.txt
timeout 120 carry/ws check --device cuda --backward --cases 30 --seed $s > $o/check-bwd.txt 2>&1; tail -1 $o/check-bwd.txt | sed "s/^/ws backward: /" >> $o/check.txt
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
timeout 60 carry/ws check --device cuda --ranks 2 --backward --cases 8 --max-tokens 4096 2>&1 | tail -1 | sed 's/^/ws ep R=2: /' >> $o/check.txt
cat $o/check.txt; cp $o/check.txt $OUT/
NCU_ALL_SHAPES="30B-n256" timeout 260 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/ws > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
cat $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null
timeout 100 bench/sanitizers.sh carry/ws $o/check.txt > /dev/null 2>&1
tail -2 $o/check.txt; cp $o/check.txt $OUT/; tar czf $OUT/all.tgz -C $o .
