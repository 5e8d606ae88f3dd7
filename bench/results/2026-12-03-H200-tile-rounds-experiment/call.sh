#!/usr/bin/env bash
# Call 4: M tiles of the up-projection and dH kernels in rounds (SWITCHYARD_TILE_ORDER=rounds) against expert-major
# (the default of this binary, which loads the multicast GEMM's A by TMA), one binary.
set -u
o=/tmp/c4; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
printf '#!/bin/sh\nSWITCHYARD_TILE_ORDER=rounds exec %s "$@"\n' "$u" > carry/rounds; chmod +x carry/rounds
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
timeout 100 carry/rounds check --device cuda --backward --cases 6 --seed 17 2>&1 | tail -1 | tee $o/smoke.txt
grep -q " 0 failed" $o/smoke.txt || { echo "smoke failed; stopping"; cp $o/* $OUT/; exit 1; }
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 80 carry/rounds check --device cuda --cases 24 --seed $s 2>&1 | tail -1 | sed "s/^/rounds forward: /" >> $o/check.txt
timeout 80 carry/rounds check --device cuda --backward --cases 24 --seed $s 2>&1 | tail -1 | sed "s/^/rounds backward: /" >> $o/check.txt
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
timeout 60 carry/rounds check --device cuda --ranks 2 --backward --cases 6 --max-tokens 4096 2>&1 | tail -1 | sed 's/^/rounds ep R=2: /' >> $o/check.txt
cat $o/check.txt
NCU_ALL_SHAPES="30B-n256" timeout 200 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/rounds > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
cat $o/ab/ncu.txt
timeout 100 bench/sanitizers.sh carry/rounds $o/check.txt > /dev/null 2>&1
tail -2 $o/check.txt
cp $o/check.txt $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
