#!/usr/bin/env bash
# v17 diagnosis: why 4 column chunks (the default at 30B-n256) time 3% slower than 1 or 2 in bench although ncu puts
# every chunked kernel at or below the token-chunk binary's. nsys per-kernel sums under the real (concurrent,
# power-capped) run for 4 and 1 chunks, and bench with and without the side stream (SWITCHYARD_OVERLAP=0).
set -u
o=/tmp/c6; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
echo "nsys: $NSYS"
python3 carry/torch_moe_baseline.py $o/torch.json > $o/torch.txt 2>&1
for c in 1024 4096; do
  for ov in 1 0; do
    SWITCHYARD_OVERLAP=$ov timeout 60 $u bench --device cuda --backward --weight-gradients bf16 --shape 30B-n256 --chunk-columns $c --json $o/b-$c-ov$ov.json > $o/b-$c-ov$ov.txt 2>&1
    echo "== chunk-columns $c overlap $ov"; python3 bench/compare.py $o/b-$c-ov$ov.json $o/torch.json | grep 30B | cut -c1-200
  done
done
if [[ -n "$NSYS" ]]; then
  for c in 1024 4096; do
    timeout 120 $NSYS profile -o $o/ns-$c --force-overwrite true $u bench --device cuda --backward --weight-gradients bf16 --shape 30B-n256 --chunk-columns $c --iterations 10 > $o/ns-$c.log 2>&1
    timeout 60 $NSYS stats -r cuda_gpu_kern_sum -f csv -o $o/ks-$c $o/ns-$c.nsys-rep > /dev/null 2>&1
    echo "== nsys kernels, chunk-columns $c"; python3 - $o/ks-${c}_cuda_gpu_kern_sum.csv <<'PY'
import csv,sys
rows=list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    name=r.get('Name','')[:40]; tot=float(r.get('Total Time (ns)',0))/1e6; n=int(r.get('Instances',0)); avg=float(r.get('Avg (ns)',0))/1e3
    print(f"{name:40s} total {tot:9.3f} ms  n {n:5d}  avg {avg:9.1f} us")
PY
  done
fi
tar czf $OUT/all.tgz --exclude='*.nsys-rep' --exclude='*.sqlite' -C $o .
