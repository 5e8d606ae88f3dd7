#!/usr/bin/env bash
# Builds and tests the whole package. Installs the NVRTC wheels first (scripts/install-cuda-wheels.sh), so that
# the kernel compile checks run here, with no GPU; the GPU-only tests show as skipped on such a machine.
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/install-cuda-wheels.sh
swift build --build-tests
swift test --skip-build
