#!/usr/bin/env bash
# v16.2 call: as v16.1 (c3.sh), with 5390295 ("old") against v16.2 ("new": the dH kernel and the weight gradients skip MMAs
# wholly past a group's end, as v16.1 did in the bf16 GEMM); checks, A/B with ncu at 30B-n256, both sweeps, train.
set -u
o=/tmp/c4; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz); v=$(bench/unpack_binary.sh carry/sy-5390295.xz)
printf '#!/bin/sh\nexec %s "$@" --weight-gradients bf16\n' "$v" > carry/old; chmod +x carry/old
printf '#!/bin/sh\nexec %s "$@" --weight-gradients bf16\n' "$u" > carry/new; chmod +x carry/new
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 90 $u check --device cuda --cases 16 --seed $s > $o/check-fwd.txt 2>&1; tail -1 $o/check-fwd.txt | sed 's/^/forward: /' >> $o/check.txt
timeout 120 $u check --device cuda --backward --cases 24 --seed $s > $o/check-bwd.txt 2>&1; tail -1 $o/check-bwd.txt | sed 's/^/backward: /' >> $o/check.txt
grep -c "grid 4" $o/check-bwd.txt | sed 's/^/backward cases on a 4-block grid: /' >> $o/check.txt
grep -c "chunks of" $o/check-bwd.txt | sed 's/^/backward cases in token chunks: /' >> $o/check.txt
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
timeout 50 $u check --device cuda --ranks 2 --backward --cases 8 --max-tokens 4096 2>&1 | tail -1 | sed 's/^/ep R=2: /' >> $o/check.txt
timeout 70 bench/sanitizers.sh $u $o/check.txt > /dev/null 2>&1
cat $o/check.txt; cp $o/env.txt $o/check.txt $o/check-fwd.txt $o/check-bwd.txt $OUT/
NCU_ALL_SHAPES="30B-n256 30B-n1024" timeout 200 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" carry/old carry/new > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200; cat $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
for p in bf16 fp32; do
  if [[ $p == bf16 ]]; then w=carry/new; else w=$u; fi
  timeout 100 $w bench --device cuda --backward --json $o/switchyard-$p.json > $o/bench-$p.txt 2>&1
  python3 bench/compare.py $o/switchyard-$p.json $o/ab/torch.json $o/compare-sweep-$p.md; echo "== sweep $p"; cut -c1-200 $o/compare-sweep-$p.md
  tar czf $OUT/all.tgz -C $o .
done
(cd $o && timeout 35 $u train --device cuda --steps 300 --csv $o/train.csv > $o/train.txt 2>&1); tail -2 $o/train.txt
tar czf $OUT/all.tgz -C $o .
