#!/usr/bin/env bash
# Column-chunk widths where an expert's slice of W1 for the dX rows (columns × 2n × 2 bytes) exceeds 8 MiB:
# 30B-n1024 at 4096 (the default, 16 MiB) and 2048; 120B-n2048 at 4096 (the default, 32 MiB), 2048 and 1024.
# Two settled rounds, bf16 dW, the PyTorch baseline in the same call. v20's binary (kernels of 00be53a).
set -u
o=/tmp/c18; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv > $o/env.txt; cat $o/env.txt
run() { timeout 60 $u bench --device cuda --backward --weight-gradients bf16 --shape $1 ${3:+--chunk-columns $3} --json $o/$1-$2-r$r.json > $o/$1-$2-r$r.txt 2>&1; grep -E "^$1 " $o/$1-$2-r$r.txt | sed "s/^/$2 r$r /"; }
for r in 1 2; do
  run 30B-n1024 def; run 30B-n1024 c2048 2048
  run 120B-n2048 def; run 120B-n2048 c2048 2048; run 120B-n2048 c1024 1024
  tar czf $OUT/all.tgz -C $o .
done
python3 carry/torch_moe_baseline.py $o/torch.json > $o/torch.txt 2>&1; grep -E "30B-n1024" $o/torch.txt
for j in $o/*-r[12].json; do echo "== $(basename $j)" >> $o/compare.md; python3 bench/compare.py $j $o/torch.json >> $o/compare.md; done
grep -E "^==|30B-n1024" $o/compare.md | grep -B1 "30B-n1024" | cut -c1-200
tar czf $OUT/all.tgz -C $o .
