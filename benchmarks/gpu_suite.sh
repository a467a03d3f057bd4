#!/usr/bin/env bash
# The whole GPU suite on one CUDA machine (about 10 minutes on an H100):
# engine parity with SLAYER on CUDA, the fused-kernel tests, golden inference speed and
# the campaign throughput workloads of ../shared/spikefi_baseline.
# Usage: SPIKEFI_REFERENCE_DIR=... SPIKEFI_SHARED_DIR=... bash benchmarks/gpu_suite.sh [OUTDIR]
set -uo pipefail
out="${1:-outputs/gpu_suite}"
mkdir -p "$out"
export PYTHONPATH="${PYTHONPATH:-.}" PYTHONUNBUFFERED=1 SPIKEFI_REQUIRE_REFERENCE=1 SPIKEFI_TEST_DEVICE=cuda
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$out/gpu.txt"
python3 -m pytest tests/snn -q -s -p no:cacheprovider 2>&1 | tee "$out/parity.log"
python3 benchmarks/golden_inference.py 2>&1 | tee "$out/golden.log"
python3 benchmarks/campaign_throughput.py --suite gpu --batch-size 256 --json "$out/throughput.json" 2>&1 | tee "$out/throughput.log"
