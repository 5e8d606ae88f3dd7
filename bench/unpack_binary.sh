#!/usr/bin/env bash
# Prints the path of a runnable binary: BINARY itself, or for BINARY.gz / BINARY.xz (how binaries travel to the
# device: two stripped ones exceed the 64 MiB carry limit) its unpacked copy in /tmp, made once.
# usage: bench/unpack_binary.sh BINARY
set -euo pipefail
b=$1
if [[ $b == *.gz || $b == *.xz ]]; then
  u="/tmp/$(basename "${b%.*}")"
  if [[ ! -x $u ]]; then
    python3 -c "import gzip, lzma, shutil, sys; o = gzip.open if sys.argv[1].endswith('.gz') else lzma.open; shutil.copyfileobj(o(sys.argv[1]), open(sys.argv[2], 'wb'))" "$b" "$u"
    chmod +x "$u"
  fi
  b=$u
fi
echo "$b"
