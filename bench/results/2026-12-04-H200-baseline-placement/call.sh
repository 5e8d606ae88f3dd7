#!/usr/bin/env bash
# Does the PyTorch baseline's time depend on where in a call it runs? PyTorch once at the start (card idle), then two
# settled rounds of our bench on the three target shapes (bf16 dW), then PyTorch again (card warm), each compared.
# Binary: 00be53a's kernels (plus experiment-only probe defines, off).
set -u
o=/tmp/c19; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
q() { nvidia-smi --query-gpu=temperature.gpu,power.draw,clocks.sm --format=csv,noheader; }
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv > $o/env.txt; cat $o/env.txt
echo "before torch-cold: $(q)" | tee $o/temps.txt
python3 carry/torch_moe_baseline.py $o/torch-cold.json > $o/torch-cold.txt 2>&1; grep -E "grouped" $o/torch-cold.txt | grep -E "7B-n256|30B-n256|30B-n1024"
tar czf $OUT/all.tgz -C $o .
for r in 1 2; do
  timeout 100 $u bench --device cuda --backward --weight-gradients bf16 --shape 7B-n256 --shape 30B-n256 --shape 30B-n1024 --json $o/sy-r$r.json > $o/sy-r$r.txt 2>&1
done
echo "before torch-warm: $(q)" | tee -a $o/temps.txt
python3 carry/torch_moe_baseline.py $o/torch-warm.json > $o/torch-warm.txt 2>&1; grep -E "grouped" $o/torch-warm.txt | grep -E "7B-n256|30B-n256|30B-n1024"
for t in cold warm; do for r in 1 2; do echo "== sy-r$r vs torch-$t" >> $o/compare.md; python3 bench/compare.py $o/sy-r$r.json $o/torch-$t.json >> $o/compare.md; done; done
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/compare.md | cut -c1-200
tar czf $OUT/all.tgz -C $o .
