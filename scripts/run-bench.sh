#!/usr/bin/env bash
# The benchmarks in one command (docs/performance.md explains them and holds the tables):
# installs the benchmark-only packages (python3-torch, libopenblas-dev, libbenchmark-dev), builds
# the release preset with -DXGRAD_BUILD_BENCH=ON, then runs
#   1. bench_gemm: xgrad's GEMM and the steps towards it, against OpenBLAS, 1 and 2 threads;
#   2. compare_pytorch.py: the ViT workloads in xgrad and PyTorch 1.13, side by side, 1 and 2 threads.
# Results go to bench-results/ (gemm.json, pytorch.json) as well as to the terminal.
# Run it on a quiet machine: the tables are ratios measured in the same minutes, but a busy
# machine makes two-thread numbers meaningless.
#
#   ./scripts/run-bench.sh                   everything (~7 minutes here once built)
#   ./scripts/run-bench.sh --quick           fewer rounds (~4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
pt_rounds=5
if [[ "${1:-}" == "--quick" ]]; then rounds=1; pt_rounds=3; fi

if [[ "${XGRAD_SKIP_DEPS:-0}" != "1" ]]; then XGRAD_EXTRAS=1 ./scripts/install-deps.sh; fi
cmake --preset release -DXGRAD_WERROR=OFF -DXGRAD_BUILD_BENCH=ON >/dev/null
cmake --build --preset release --target bench_gemm bench_workloads

mkdir -p bench-results
echo "==> bench_gemm --rounds=$rounds"
build/release/bench/bench_gemm --rounds="$rounds" --json=bench-results/gemm.json
echo
echo "==> compare_pytorch.py --rounds $pt_rounds"
/usr/bin/python3 bench/compare_pytorch.py --xgrad build/release/bench/bench_workloads --rounds "$pt_rounds" \
  --json bench-results/pytorch.json
