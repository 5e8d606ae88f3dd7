#!/usr/bin/env bash
# Installs the CUDA compiler libraries that Switchyard needs to compile its kernels on a machine with no GPU:
# NVRTC (libnvrtc.so.13, with its builtins), the CUDA runtime headers (cuda_bf16.h, cuda_fp8.h, ...) and CCCL,
# as PyPI wheels into the project-local folder .deps/cuda (git-ignored). The versions match the GPU machine's CUDA.
# Idempotent: does nothing when the libraries and headers are already there.
set -euo pipefail

cd "$(dirname "$0")/.."
target=".deps/cuda"
lib="$target/nvidia/cu13/lib/libnvrtc.so.13"
header="$target/nvidia/cu13/include/cuda_bf16.h"
cccl="$target/nvidia/cu13/include/cccl/cuda/std/cstdint"

if [[ -e "$lib" && -e "$header" && -e "$cccl" ]]; then
    echo "install-cuda-wheels: NVRTC and headers already in $target"
    exit 0
fi

python3 -m pip install --quiet --disable-pip-version-check --no-deps --upgrade --target "$target" \
    "nvidia-cuda-nvrtc==13.0.88" \
    "nvidia-cuda-runtime==13.0.88" \
    "nvidia-cuda-cccl==13.0.85"

for path in "$lib" "$header" "$cccl"; do
    if [[ ! -e "$path" ]]; then
        echo "install-cuda-wheels: expected $path after installing the wheels, it is missing" >&2
        exit 1
    fi
done
echo "install-cuda-wheels: installed NVRTC and headers into $target"
