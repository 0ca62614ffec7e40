#!/usr/bin/env bash
# Run THERE, on the GPU machine, from the repository root: the quality table
# (tools/benchmarks/bench_quality.py) at a GPU budget. Installs the wheels that
# tools/device/prepare_wheels.sh put in .device_wheels/ (run that here first; the run tool
# carries the folder: carry [".device_wheels"]) into /tmp/site without network and without
# mmcv's compiled ops, points FASHION_MNIST_ROOT at the carried copy, checks that torch sees
# the GPU, then runs bench_quality.py with the arguments given (defaults below).
#
#   bash tools/device/gpu_quality.sh                          # the defaults (DEFAULT_ARGS)
#   bash tools/device/gpu_quality.sh --epochs 50 --pairs wcl --seeds 0
#   bash tools/device/gpu_quality.sh --dry-run ...            # print the commands, run nothing
#   bash tools/device/gpu_quality.sh --epochs 12 --pairs wcl --seeds 0 \
#       --and --epochs 12 --pairs csml --methods mocov2 csml --seeds 0 --no-floors
#
# '--and' splits the arguments into groups; each group is one bench_quality.py process and the
# groups run at the same time on the one GPU. Measured on an H200 (docs/benchmarks.md), five
# groups gave only about 1.2 times the throughput of one process alone, each at a quarter of
# its speed; their train times are those of a shared GPU. Groups share the out-dir, so give
# them different methods, the floors to one group only (--no-floors on the others) and the
# same --epochs; the report is rebuilt from every result once all have stopped.
#
# Unless the arguments name them, --out-dir is docs/results/gpu (so results carried back into
# the checkout make a later call resume) and --work-dir /tmp/csml_quality_gpu (checkpoints stay
# there). bench_quality.py runs under `timeout CSML_GPU_TIME_LIMIT_S` (default 540 s, for a run
# tool call of timeout_s 600; 0 = none), so that whatever finished is packed in any case:
# when $OUT is set (the run tool), $OUT gets
#   gpu_quality.tar.gz   the out-dir (quality.md, plots, runs_e<N>/<method>/seed<k>.json),
#                        to unpack in the checkout here: tar -xzf .../gpu_quality.tar.gz
#   quality.md           the report, to read at once
#   gpu_logs.tar.gz      the training and evaluation logs (no checkpoints)
#   gpu_env.txt          nvidia-smi, the versions and the commands run
#
# Switches (environment variables):
#   CSML_DEVICE_WHEELS=.device_wheels   the folder prepare_wheels.sh filled
#   CSML_DEVICE_SITE=/tmp/site          where the wheels are installed (put first on PYTHONPATH)
#   PYTHON=python3                      the interpreter that holds torch there
#   CSML_GPU_TIME_LIMIT_S=540           wall-clock limit of bench_quality.py (0: none)
#   CSML_DEVICE_DRY_RUN=1               as --dry-run
#   CSML_DEVICE_ALLOW_CPU=1             run without a GPU (to try the script on a CPU machine)
#   CSML_GPU_SPEED=1                    first the speed table (tools/benchmarks/bench_speed.py,
#                                       arguments CSML_GPU_SPEED_ARGS, default: every method at
#                                       both sizes, fp32 and AMP) under timeout
#                                       CSML_GPU_SPEED_LIMIT_S (default 240), into docs/results
#                                       (speed.md, speed_runs/<device>.json), packed as
#                                       $OUT/gpu_speed.tar.gz; the quality runs get the rest of
#                                       CSML_GPU_TIME_LIMIT_S
#   CSML_GPU_CHECKS=1                   before everything else: mixed precision, resume and a NaN
#                                       fault for every algorithm family
#                                       (tools/device/gpu_checks.py) under timeout
#                                       CSML_GPU_CHECKS_LIMIT_S (default 200), arguments
#                                       CSML_GPU_CHECKS_ARGS (default: every family, fp16 with
#                                       a live loss scaler); its table goes to
#                                       $OUT/gpu_checks.txt, its record to $OUT/gpu_checks.json;
#                                       the quality runs get what is left of
#                                       CSML_GPU_TIME_LIMIT_S after the checks and the speed table
#   CSML_DEVICE_SKIP_INSTALL=1          no install and no check: the interpreter's own stack
#                                       (the tests; a machine that has the stack installed)
#   CSML_DEVICE_WORK_IN=.device_work    unfinished runs of an earlier call, copied into the
#                                       work-dir first (see "Runs cut off" below)
#   CSML_DEVICE_PART_MIB=15             size of the parts of gpu_work.tar
#
# Runs cut off: bench_quality.py resumes a run whose work-dir folder holds a checkpoint but no
# result. On this machine the work-dir lives only as long as the machine, so the runs the time
# limit cut off are packed too (their last checkpoint, segments.json and logs), as
# $OUT/gpu_work.tar.part-aa, -ab, ... Here: mkdir -p .device_work && cat
# .../gpu_work.tar.part-* | tar -x -C .device_work, then carry [".device_wheels",
# ".device_work"] in the next call (64 MiB together with the working tree), which resumes them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WHEELS="${CSML_DEVICE_WHEELS:-$ROOT/.device_wheels}"
SITE="${CSML_DEVICE_SITE:-/tmp/site}"
PY="${PYTHON:-python3}"
LIMIT_S="${CSML_GPU_TIME_LIMIT_S:-540}"
DRY="${CSML_DEVICE_DRY_RUN:-0}"
WORK_IN="${CSML_DEVICE_WORK_IN:-$ROOT/.device_work}"
PART_MIB="${CSML_DEVICE_PART_MIB:-15}"
SPEED="${CSML_GPU_SPEED:-0}"
SPEED_LIMIT_S="${CSML_GPU_SPEED_LIMIT_S:-240}"
read -r -a SPEED_ARGS <<< "${CSML_GPU_SPEED_ARGS:---sizes fmnist imagenet --precisions fp32 amp}"
CHECKS="${CSML_GPU_CHECKS:-0}"
CHECKS_LIMIT_S="${CSML_GPU_CHECKS_LIMIT_S:-200}"
read -r -a CHECKS_ARGS <<< "${CSML_GPU_CHECKS_ARGS:-}"
CHECKS_CMD=("$PY" tools/device/gpu_checks.py ${CHECKS_ARGS[@]+"${CHECKS_ARGS[@]}"} --out "${OUT:-${TMPDIR:-/tmp}}/gpu_checks.json")
[[ "$CHECKS_LIMIT_S" == 0 ]] || CHECKS_CMD=(timeout -k 20 "$CHECKS_LIMIT_S" "${CHECKS_CMD[@]}")
SPEED_CMD=("$PY" tools/benchmarks/bench_speed.py "${SPEED_ARGS[@]}" --out-dir docs/results)
[[ "$SPEED_LIMIT_S" == 0 ]] || SPEED_CMD=(timeout -k 20 "$SPEED_LIMIT_S" "${SPEED_CMD[@]}")
# The wcl pair at 12 epochs (SimCLR's CPU budget is 7). Measured on an H200 (docs/benchmarks.md):
# about 35 ms a step alone, 19 s an epoch with the kNN monitor, so about 5 minutes a run with
# its evaluation: the two runs take two calls, the second (on the warm machine, or carrying
# .device_work) resuming what the first's time limit cut off.
DEFAULT_ARGS=(--pairs wcl --seeds 0 --epochs 12)
DEFAULT_OUT_DIR=docs/results/gpu
DEFAULT_WORK_DIR=/tmp/csml_quality_gpu
say() { printf '[gpu_quality] %s\n' "$*"; }
die() { printf '[gpu_quality] ERROR: %s\n' "$*" >&2; exit 1; }

# the argument groups ('--and' separates them), each kept as one string split on RS (\x1e)
RS=$'\x1e'
GROUPS_=()
CUR=()
flush_group() {
  ((${#CUR[@]})) || CUR=("${DEFAULT_ARGS[@]}")
  local g; g="$(printf "%s$RS" "${CUR[@]}")"; GROUPS_+=("$g"); CUR=()
}
for a in "$@"; do
  if [[ "$a" == --dry-run ]]; then DRY=1
  elif [[ "$a" == --and ]]; then flush_group
  else CUR+=("$a"); fi
done
flush_group
# ARGS: one group's arguments with the default out-dir and work-dir added where not given
group_args() {
  IFS="$RS" read -r -a ARGS <<< "${GROUPS_[$1]%"$RS"}"
  has_opt --out-dir || ARGS+=(--out-dir "$DEFAULT_OUT_DIR")
  has_opt --work-dir || ARGS+=(--work-dir "$DEFAULT_WORK_DIR")
}
has_opt() { local a; for a in "${ARGS[@]}"; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done; return 1; }
# opt_value NAME: the value of --NAME in ARGS (empty if absent)
opt_value() {
  local i v=""
  for ((i = 0; i < ${#ARGS[@]}; i++)); do
    case "${ARGS[$i]}" in
      "$1") v="${ARGS[$((i + 1))]:-}" ;;
      "$1"=*) v="${ARGS[$i]#"$1"=}" ;;
    esac
  done
  printf '%s' "$v"
}
# every group must write into one out-dir at one budget (one report); the first group's
# out-dir, work-dir and --epochs are those of the whole call
group_args 0
OUT_DIR="$(opt_value --out-dir)"; WORK_DIR="$(opt_value --work-dir)"; EPOCHS="$(opt_value --epochs)"
for ((gi = 1; gi < ${#GROUPS_[@]}; gi++)); do
  group_args "$gi"
  [[ "$(opt_value --out-dir)" == "$OUT_DIR" ]] || die "group $((gi + 1)) (after --and) names another --out-dir than the first; the groups share one report"
  [[ "$(opt_value --epochs)" == "$EPOCHS" ]] || die "group $((gi + 1)) (after --and) has another --epochs than the first; the groups share one report (give each the same --epochs)"
done

# ---------------------------------------------------------------- what was carried
FMNIST="$WHEELS/fashion-mnist"
HOWTO="run 'bash tools/device/prepare_wheels.sh' on the machine with the package registries, \
then name .device_wheels in the run tool's carry list"
[[ -d "$WHEELS" ]] || die "no wheel folder $WHEELS: $HOWTO"
for dist in mmcv_lite mmengine mmpretrain; do
  compgen -G "$WHEELS/$dist-*.whl" >/dev/null || die "no $dist wheel in $WHEELS: $HOWTO"
done
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
         t10k-labels-idx1-ubyte.gz; do
  [[ -f "$FMNIST/$f" ]] || die "no Fashion-MNIST file $FMNIST/$f: $HOWTO"
done
WHEEL_FILES=("$WHEELS"/*.whl)

PIP_CMD=("$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile
         --no-cache-dir --upgrade --target "$SITE" "${WHEEL_FILES[@]}")
# bench_cmd I: BENCH_CMD of group I
bench_cmd() {
  group_args "$1"
  BENCH_CMD=("$PY" tools/benchmarks/bench_quality.py "${ARGS[@]}")
  if [[ "$LIMIT_S" != 0 ]]; then BENCH_CMD=(timeout -k 20 "$LIMIT_S" "${BENCH_CMD[@]}"); fi
}
group_args 0
REPORT_CMD=("$PY" tools/benchmarks/bench_quality.py --report-only --out-dir "$OUT_DIR")
[[ -z "$EPOCHS" ]] || REPORT_CMD+=(--epochs "$EPOCHS")
! has_opt --quick || REPORT_CMD+=(--quick)
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}" FASHION_MNIST_ROOT="$(cd "$FMNIST" && pwd)" PYTHONUNBUFFERED=1
if [[ "$DRY" == 1 ]]; then
  echo "PYTHONPATH=$PYTHONPATH"
  echo "FASHION_MNIST_ROOT=$FASHION_MNIST_ROOT"
  echo "${PIP_CMD[*]}"
  for ((gi = 0; gi < ${#GROUPS_[@]}; gi++)); do bench_cmd "$gi"; echo "${BENCH_CMD[*]}"; done
  ((${#GROUPS_[@]} == 1)) || echo "${REPORT_CMD[*]}"
  [[ "$CHECKS" != 1 ]] || echo "checks first: ${CHECKS_CMD[*]}"
  [[ "$SPEED" != 1 ]] || echo "speed first: ${SPEED_CMD[*]}"
  exit 0
fi

# ---------------------------------------------------------------- install and check
if [[ "${CSML_DEVICE_SKIP_INSTALL:-0}" == 1 ]]; then
  say "CSML_DEVICE_SKIP_INSTALL=1: no install, the interpreter's own packages"
else
  say "installing ${#WHEEL_FILES[@]} wheels into $SITE (no index, no dependencies)"
  "${PIP_CMD[@]}"
  # model-index's wheel ships a top-level package named 'tests', which would shadow ours
  [[ -f "$SITE/tests/test_yml_head.py" ]] && rm -rf "$SITE/tests"
fi
ENV_TXT="$(mktemp "${TMPDIR:-/tmp}/gpu_env.XXXXXX")"
{ echo "\$ ${PIP_CMD[*]}"
  [[ "$CHECKS" != 1 ]] || echo "\$ ${CHECKS_CMD[*]}"
  [[ "$SPEED" != 1 ]] || echo "\$ ${SPEED_CMD[*]}"
  for ((gi = 0; gi < ${#GROUPS_[@]}; gi++)); do bench_cmd "$gi"; echo "\$ ${BENCH_CMD[*]}"; done
  ((${#GROUPS_[@]} == 1)) || echo "(the ${#GROUPS_[@]} commands above ran at the same time)"
  echo "PYTHONPATH=$PYTHONPATH";
  echo "FASHION_MNIST_ROOT=$FASHION_MNIST_ROOT"; nvidia-smi 2>&1 || true; } > "$ENV_TXT"
[[ "${CSML_DEVICE_SKIP_INSTALL:-0}" == 1 ]] || \
CSML_DEVICE_SITE_REAL="$(cd "$SITE" && pwd -P)" "$PY" - <<'PY' | tee -a "$ENV_TXT"
import os
import sys

import torch
import mmcv
import mmengine
import mmpretrain
import csml_mm
from mmengine.utils.dl_utils import mmcv_full_available

site = os.environ['CSML_DEVICE_SITE_REAL']
for mod in (mmcv, mmengine, mmpretrain):
    if not os.path.realpath(mod.__file__).startswith(site + os.sep):
        sys.exit(f'[gpu_quality] ERROR: {mod.__name__} comes from {mod.__file__}, not from {site}')
try:  # mmengine's Runner (collect_env) imports distutils, gone from Python 3.12's stdlib
    from distutils import errors  # noqa: F401  (setuptools provides it there)
except ImportError as e:
    sys.exit(f'[gpu_quality] ERROR: {e}: mmengine needs distutils; on Python >= 3.12 it comes '
             'with setuptools, which this interpreter lacks (carry a setuptools wheel)')
cuda = torch.cuda.is_available()
print(f'[gpu_quality] python {sys.version.split()[0]} torch {torch.__version__} '
      f'(CUDA {torch.version.cuda}) mmcv {mmcv.__version__} (compiled ops: '
      f'{mmcv_full_available()}) mmengine {mmengine.__version__} mmpretrain '
      f'{mmpretrain.__version__} csml_mm {csml_mm.__version__}')
print(f'[gpu_quality] device: {torch.cuda.get_device_name(0) if cuda else "no GPU"}')
if not cuda and os.environ.get('CSML_DEVICE_ALLOW_CPU') != '1':
    sys.exit('[gpu_quality] ERROR: torch sees no GPU (set CSML_DEVICE_ALLOW_CPU=1 to run anyway)')
PY

# ---------------------------------------------------------------- the table
# runs an earlier call left unfinished (see pack_unfinished), carried in WORK_IN; files the
# work-dir has already (a warm machine that went further since) are kept, not overwritten
if [[ -d "$WORK_IN" ]] && [[ -n "$(ls -A "$WORK_IN")" ]]; then
  mkdir -p "$WORK_DIR"
  cp -an "$WORK_IN"/. "$WORK_DIR"/
  say "copied the unfinished runs of $WORK_IN into $WORK_DIR"
fi
# side by side, each process gets its share of the cores for its CPU work
if ((${#GROUPS_[@]} > 1)) && [[ -z "${OMP_NUM_THREADS:-}" ]]; then
  NCPU="$(nproc 2>/dev/null || echo 16)"
  export OMP_NUM_THREADS=$(( NCPU / ${#GROUPS_[@]} > 0 ? NCPU / ${#GROUPS_[@]} : 1 ))
  say "OMP_NUM_THREADS=$OMP_NUM_THREADS for each of the ${#GROUPS_[@]} groups"
fi
pack() {
  [[ -n "${OUT:-}" && -d "${OUT:-}" ]] || return 0
  cp "$ENV_TXT" "$OUT/gpu_env.txt"
  if [[ -d "$OUT_DIR" ]]; then
    # relative to the repository root when inside it, so it unpacks in the checkout as it is
    local abs; abs="$(cd "$OUT_DIR" && pwd)"
    if [[ "$abs" == "$ROOT"/* ]]; then
      tar -czf "$OUT/gpu_quality.tar.gz" -C "$ROOT" "${abs#"$ROOT"/}"
    else
      tar -czf "$OUT/gpu_quality.tar.gz" -C "$(dirname "$abs")" "$(basename "$abs")"
    fi
    [[ -f "$OUT_DIR/quality.md" ]] && cp "$OUT_DIR/quality.md" "$OUT/quality.md"
  fi
  if [[ -d "$WORK_DIR" ]]; then
    (cd "$WORK_DIR" && find . -type f \( -name '*.log' -o -name '*.json' -o -name '*.py' \) -print0 \
      | tar -czf "$OUT/gpu_logs.tar.gz" --null -T -) || true
    pack_unfinished || true
  fi
  say "packed into $OUT: $(ls "$OUT" | tr '\n' ' ')"
}
# The runs the time limit cut off (a checkpoint, no result), so that a later call on a fresh
# machine resumes them: each one's folder without its older checkpoints, in one tar split
# into $OUT/gpu_work.tar.part-aa, -ab, ... of PART_MIB MiB (the run tool brings back files of
# at most 16 MiB). Here: cat gpu_work.tar.part-* | tar -x -C .device_work, then carry
# .device_work with .device_wheels; this script copies it into the work-dir first.
pack_unfinished() {
  local ptr run rel results ckpt
  local -a keep=()
  while IFS= read -r -d '' ptr; do
    run="$(dirname "$ptr")"; rel="${run#./}"              # e12/wcl/seed0 or wcl/seed0
    if [[ "$rel" =~ ^e([0-9]+)/([^/]+)/(seed[0-9]+)$ ]]; then
      results="$OUT_DIR/runs_e${BASH_REMATCH[1]}/${BASH_REMATCH[2]}/${BASH_REMATCH[3]}.json"
    elif [[ "$rel" =~ ^([^/]+)/(seed[0-9]+)$ ]]; then
      results="$OUT_DIR/runs/${BASH_REMATCH[1]}/${BASH_REMATCH[2]}.json"
    else
      continue
    fi
    [[ -f "$results" ]] && continue
    ckpt="$(basename "$(cat "$WORK_DIR/$rel/last_checkpoint")")"
    [[ -f "$WORK_DIR/$rel/$ckpt" ]] || continue
    # the folder without the checkpoints older than the last
    while IFS= read -r -d '' f; do
      [[ "$f" == *.pth && "$(basename "$f")" != "$ckpt" ]] || keep+=("$f")
    done < <(cd "$WORK_DIR" && find "$rel" -type f -print0)
  done < <(cd "$WORK_DIR" && find . -name last_checkpoint -print0)
  ((${#keep[@]})) || return 0
  tar -cf - -C "$WORK_DIR" "${keep[@]}" | split -b "${PART_MIB}M" - "$OUT/gpu_work.tar.part-"
  say "unfinished runs for a later call: $OUT/gpu_work.tar.part-* (here: cat them | tar -x -C .device_work)"
}
if [[ "$CHECKS" == 1 ]]; then
  T_CHECKS=$SECONDS
  say "\$ ${CHECKS_CMD[*]}"
  CHECKS_TXT="${OUT:-${TMPDIR:-/tmp}}/gpu_checks.txt"
  set +e
  "${CHECKS_CMD[@]}" 2>&1 | tee "$CHECKS_TXT"
  CHECKS_RC=${PIPESTATUS[0]}
  set -e
  case "$CHECKS_RC" in
    0) say "device checks: every family passed (table: $CHECKS_TXT)" ;;
    124|137) say "device checks: TIMEOUT after ${CHECKS_LIMIT_S} s; the families done are in $CHECKS_TXT" ;;
    *) say "device checks: FAILED (exit $CHECKS_RC); see $CHECKS_TXT" ;;
  esac
  if [[ "$LIMIT_S" != 0 ]]; then
    LIMIT_S=$(( LIMIT_S - (SECONDS - T_CHECKS) > 60 ? LIMIT_S - (SECONDS - T_CHECKS) : 60 ))
  fi
fi
if [[ "$SPEED" == 1 ]]; then
  T_SPEED=$SECONDS
  say "\$ ${SPEED_CMD[*]}"
  "${SPEED_CMD[@]}" || say "bench_speed.py stopped (exit $?); the rows it finished are kept"
  if [[ -n "${OUT:-}" && -d "${OUT:-}" && -d docs/results/speed_runs ]]; then
    tar -czf "$OUT/gpu_speed.tar.gz" docs/results/speed.md docs/results/speed_runs
  fi
  if [[ "$LIMIT_S" != 0 ]]; then
    LIMIT_S=$(( LIMIT_S - (SECONDS - T_SPEED) > 60 ? LIMIT_S - (SECONDS - T_SPEED) : 60 ))
    say "the quality runs get the remaining ${LIMIT_S} s"
  fi
fi
PIDS=()
for ((gi = 0; gi < ${#GROUPS_[@]}; gi++)); do
  bench_cmd "$gi"
  say "\$ ${BENCH_CMD[*]}"
  if ((${#GROUPS_[@]} == 1)); then
    "${BENCH_CMD[@]}" &
  else
    # each group's lines carry its number
    "${BENCH_CMD[@]}" > >(sed -u "s/^/[group $((gi + 1))] /") 2>&1 &
  fi
  PIDS+=($!)
done
rc=0
for pid in "${PIDS[@]}"; do
  prc=0; wait "$pid" || prc=$?
  if [[ "$prc" == 124 || "$prc" == 137 ]]; then
    say "a bench_quality.py stopped at the time limit (${LIMIT_S} s); runs with a result are kept"
  fi
  [[ "$rc" != 0 ]] || rc="$prc"
done
if [[ "$rc" != 0 || ${#GROUPS_[@]} -gt 1 ]]; then
  # the report is rebuilt after each pair; rebuild it from every result that made it
  "${REPORT_CMD[@]}" || true
fi
pack
exit "$rc"
