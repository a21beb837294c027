#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU and torch, jax, pandas, pytest-benchmark
# already installed (no network needed), runs in a few minutes:
#   1. the agreement suite on cuda, every mode, float32 and float64, and the GPU tests;
#   2. timings of linreg at N = 10^6 on cuda and cpu side by side, every mode;
#   3. the pytest-benchmark suite on cuda, saved as JSON;
#   4. the compute roof (`gdbench machine`: bandwidth and GEMM rates, cuda and cpu) and the
#      classifier (784-1024-1024-10) swept over B = 64…4096 on cuda against it, every mode.
# Everything lands in results/gpu-<card>-<date>/, named after the card.
# Usage: bash bench/gpu_check.sh [OUTROOT]   (default: results)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # no install needed
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 |
       tr -c 'A-Za-z0-9\n' '-' | tr -s '-' | sed 's/-$//')
[ -n "$card" ] || { echo "gpu_check: no NVIDIA GPU visible (nvidia-smi)" >&2; exit 2; }
out="${1:-results}/gpu-${card}-$(date -u +%Y%m%d-%H%M)"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
status=0
python -m gdbench run --device cuda --mode all --dtype float32,float64 --no-timing \
  --out "$out/agreement" || status=1
python -m gdbench run --problem linreg --n-samples 1000000 --device auto --mode all \
  --time-budget 2 --out "$out/linreg-1e6" || status=1
python -m pytest tests/test_backends.py -m gpu -q -p no:cacheprovider \
  --junitxml "$out/gpu-tests.xml" || status=1
python -m pytest bench/ -q -p no:cacheprovider -k cuda --gd-sizes 100000x1,1000000x1 \
  --benchmark-json "$out/bench.json" || status=1
python -m gdbench machine > "$out/machine.txt" 2>&1 || status=1
XLA_PYTHON_CLIENT_PREALLOCATE=false python -m gdbench sweep --problem classifier \
  --problem-opt batch=4096 --n-samples 64,256,1024,4096 --features 784 --device cuda \
  --mode all --steps 10 --time-budget 1 --out "$out/classifier-sweep" || status=1
echo "gpu_check: results in $out (status $status)"
exit $status
