#!/usr/bin/env bash
# The whole GPU suite on one CUDA machine (about 5 minutes on an H100):
# engine parity with SLAYER on CUDA, the fused-kernel tests, the engines on CUDA against
# the hook path, golden inference speed,
# the campaign throughput workloads of ../shared/spikefi_baseline and, where two or more
# GPUs are visible, one campaign sharded over two of them (run_on_devices), and workloads a/b/b'/c
# on the 100 real N-MNIST test recordings where SPIKEFI_NMNIST_DIR (or SHARED/nmnist_small) has them,
# and the realistic synapse campaign (nmnist_real_throughput.py --workload synapses: 51,840 rounds x 384
# real recordings, int8 golden). The throughput phases are compared with the committed numbers of
# this GPU model (benchmarks/results/gpu_guard/<model>.json): a phase more than 15% and 3 ms slower
# prints a "GUARD FLAG" line (GUARD_WRITE=1 writes the file instead, for a new GPU model).
# Usage: SPIKEFI_REFERENCE_DIR=... SPIKEFI_SHARED_DIR=... bash benchmarks/gpu_suite.sh [OUTDIR]
set -uo pipefail
out="${1:-outputs/gpu_suite}"
mkdir -p "$out"
export PYTHONPATH="${PYTHONPATH:-.}" PYTHONUNBUFFERED=1 SPIKEFI_REQUIRE_REFERENCE=1 SPIKEFI_TEST_DEVICE=cuda
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$out/gpu.txt"
python3 -m pytest tests/snn tests/campaign/test_cuda_engines.py -q -s -p no:cacheprovider 2>&1 | tee "$out/parity.log"
python3 benchmarks/golden_inference.py 2>&1 | tee "$out/golden.log"
guard_args=(--guard benchmarks/results/gpu_guard)
[ "${GUARD_WRITE:-0}" = 1 ] && guard_args+=(--guard-write)
python3 benchmarks/campaign_throughput.py --suite gpu --batch-size 256 --repeats 5 --json "$out/throughput.json" \
  "${guard_args[@]}" 2>&1 | tee "$out/throughput.log"
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  python3 benchmarks/campaign_throughput.py --suite multi --devices cuda:0,cuda:1 --json "$out/multi.json" 2>&1 | tee "$out/multi.log"
fi
# the same workloads on the 100 real N-MNIST test recordings, where they are (SPIKEFI_NMNIST_DIR)
nmnist_dir="${SPIKEFI_NMNIST_DIR:-${SPIKEFI_SHARED_DIR:-../shared}/nmnist_small}"
if [ -f "$nmnist_dir/test100.txt" ]; then
  python3 benchmarks/nmnist_real_throughput.py --root "$nmnist_dir" --repeats 5 --json "$out/nmnist_real.json" 2>&1 | tee "$out/nmnist_real.log"
  python3 benchmarks/nmnist_real_throughput.py --root "$nmnist_dir" --workload synapses --repeats 2 \
    --json "$out/nmnist_synapses.json" 2>&1 | tee "$out/nmnist_synapses.log"
fi
