#!/usr/bin/env bash
# Call 7: where the dH kernel's and the up-projection's warps stall, per SASS instruction (ncu PC sampling), at
# 30B-n256: one launch of each (main's kernels; the binary of 5eb3260, whose default cubin is main's).
set -u
o=/tmp/c7; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
timeout 120 ncu --clock-control none --section SourceCounters --section WarpStateStats -k regex:"dswiglu|up_swiglu" -c 2 \
  -o $o/pc $u bench --device cuda --backward --shape 30B-n256 --warmup 0 --iterations 1 > $o/profile.log 2>&1
tail -3 $o/profile.log
timeout 60 ncu --import $o/pc.ncu-rep --page source --csv --print-source sass > $o/source.csv 2> $o/export1.err
wc -l $o/source.csv; head -c 600 $o/source.csv; echo; head -3 $o/export1.err
timeout 60 ncu --import $o/pc.ncu-rep --page details --print-details all > $o/details.txt 2>&1; wc -l $o/details.txt
gzip -k $o/source.csv 2>/dev/null
cp $o/source.csv.gz $o/details.txt $o/profile.log $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o --exclude=source.csv .
