#!/usr/bin/env bash
# Before/after measurements of the parallel engine on the GPU machine, in one call (consecutive runs).
#
#   bash benchmarks/gpu_ab.sh prepare BASE_COMMIT   # here, in the checkout: .bench_base/ = BASE's spikefi with this
#                                                   # tree's benchmark scripts; shared/ = what the benchmarks read
#   device run: command "bash benchmarks/gpu_ab.sh run [STEP...]", carry [".bench_base"]
#
# Steps (in the order given; default: tests whole sub guard):
#   tests  the CUDA tests of the parallel engine's integer and sparse paths, the fused compare and the loss
#   whole  the realistic synapse workload (nmnist_real_throughput.py --workload synapses) base, then head
#   sub    4,096 rounds at the workload's mix (synapse_profile.py --share-sc3 0.8 --no-phases) base, then head
#   guard  campaign_throughput.py --suite gpu against benchmarks/results/gpu_guard (head)
#   prof   synapse_profile.py phases, kernels and host profile of 2,048 rounds (head)
# Each step runs under its own limit and is skipped when it would end past BUDGET seconds (default 585) after
# the start; logs go to $OUT/r (and $OUT/logs.tgz), a summary to stdout; the exit status is 1 when a step failed
# or ran out of its limit. HEAD_ENV="A=1 B=2" sets variables for the head runs only (tests, whole, sub, guard,
# prof; e.g. an on/off switch). VARIANTS="A=1;A=1 B=0" adds one more head run per variant (its variables on top
# of HEAD_ENV) to whole and sub, after base and head (logs whole_v1, sub_v1, ... in the order of VARIANTS):
# several switch sets compared with one base in one call.
set -u
mode=${1:-}
shift || true
if [ "$mode" = prepare ]; then
  set -eo pipefail
  base=${1:?usage: gpu_ab.sh prepare BASE_COMMIT}
  shared=${SPIKEFI_SHARED_DIR:-../shared}
  git rev-parse --verify -q "$base^{commit}" > /dev/null || { echo "not a commit: $base" >&2; exit 2; }
  exclude=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$exclude")"
  for p in /.bench_base/ /shared/; do grep -qxF "$p" "$exclude" 2>/dev/null || echo "$p" >> "$exclude"; done
  rm -rf .bench_base && mkdir .bench_base
  git archive "$base" spikefi benchmarks | tar -x -C .bench_base
  cp benchmarks/*.py .bench_base/benchmarks/
  rm -rf .bench_base/spikefi/zoo/pretrained  # the same weights travel with the tree; copied in on the device
  mkdir -p shared
  for d in slayer_reference spikefi_baseline nmnist_small; do [ -d "shared/$d" ] || cp -r "$shared/$d" shared/; done
  du -sh .bench_base shared
  exit 0
fi
if [ "$mode" != run ]; then
  echo "usage: gpu_ab.sh prepare BASE_COMMIT | run [tests|whole|sub|guard|prof ...]" >&2
  exit 2
fi
steps=${*:-tests whole sub guard}
for s1 in $steps; do case $s1 in tests|whole|sub|guard|prof) ;; *)
  echo "unknown step $s1 (tests, whole, sub, guard, prof)" >&2; exit 2 ;; esac; done
R=$PWD B=$PWD/.bench_base
OUT=${OUT:-$R/outputs/gpu_ab}
mkdir -p "$OUT/r"
case " $steps " in *" whole "*|*" sub "*)
  [ -d "$B/spikefi" ] || { echo "no $B: run 'gpu_ab.sh prepare BASE' here and carry .bench_base" >&2; exit 2; }
  [ -d "$B/spikefi/zoo/pretrained" ] || cp -r spikefi/zoo/pretrained "$B/spikefi/zoo/" ;;
esac
export PYTHONUNBUFFERED=1 SPIKEFI_SHARED_DIR=$R/shared SPIKEFI_REFERENCE_DIR=$R/shared/slayer_reference \
  SPIKEFI_NMNIST_DIR=$R/shared/nmnist_small
T0=$(date +%s)
fail=0
step() {  # name limit dir [env...] command...
  local name=$1 lim=$2 dir=$3
  shift 3
  if [ $(( $(date +%s) - T0 + lim )) -gt "${BUDGET:-585}" ]; then echo "### $name skipped (budget)"; return; fi
  echo "### $name (limit $lim s) at +$(( $(date +%s) - T0 )) s"
  (cd "$dir" && PYTHONPATH=$dir timeout "$lim" "$@") > "$OUT/r/$name.log" 2>&1
  local rc=$?
  echo "rc $rc" >> "$OUT/r/$name.log"
  [ "$rc" = 0 ] || fail=1
  grep -h -E "f·s/s|identical|passed|failed|Error|GUARD|flagged|^rc " "$OUT/r/$name.log" | cut -c1-200
}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
read -ra head_vars <<< "${HEAD_ENV:-}"
head_env=(env "${head_vars[@]}")
IFS=';' read -ra variant_list <<< "${VARIANTS:-}"
variants() {  # step-name limit command...: the head once more per variant
  local name=$1 lim=$2 i=0 v
  shift 2
  for v in "${variant_list[@]}"; do
    i=$((i + 1))
    read -ra vv <<< "$v"
    [ ${#vv[@]} -gt 0 ] || continue
    step "${name}_v$i" "$lim" "$R" "${head_env[@]}" "${vv[@]}" python3 "$@"
  done
}
W=(benchmarks/nmnist_real_throughput.py --workload synapses --repeats 1 --check-rounds 32)
S=(benchmarks/synapse_profile.py --rounds 4096 --share-sc3 0.8 --no-phases)
for s1 in $steps; do case $s1 in
  tests) step tests 100 "$R" "${head_env[@]}" SPIKEFI_TEST_DEVICE=cuda python3 -m pytest -q -p no:cacheprovider \
           tests/campaign/test_sparse_rows.py tests/campaign/test_engine_batch.py tests/campaign/test_integer_synapses.py \
           tests/campaign/test_sparse_odd_pool.py tests/campaign/test_cuda_engines.py tests/campaign/test_fused_compare.py \
           tests/snn/test_functional.py ;;
  whole) step whole_base 110 "$B" python3 "${W[@]}"
         step whole_head 110 "$R" "${head_env[@]}" python3 "${W[@]}"
         variants whole 110 "${W[@]}" ;;
  sub)   step sub_base 45 "$B" python3 "${S[@]}"
         step sub_head 45 "$R" "${head_env[@]}" python3 "${S[@]}"
         variants sub 45 "${S[@]}" ;;
  guard) step guard 80 "$R" "${head_env[@]}" python3 benchmarks/campaign_throughput.py --suite gpu --batch-size 256 --repeats 5 \
           --guard benchmarks/results/gpu_guard ;;
  prof)  step prof 70 "$R" "${head_env[@]}" python3 benchmarks/synapse_profile.py --rounds 2048 --share-sc3 0.8 \
           --kernels --cprofile 25 ;;
esac; done
echo "### done at +$(( $(date +%s) - T0 )) s"
(cd "$OUT/r" && tar czf "$OUT/logs.tgz" ./*.log 2>/dev/null)
exit $fail
