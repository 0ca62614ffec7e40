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
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WHEELS="${CSML_DEVICE_WHEELS:-$ROOT/.device_wheels}"
SITE="${CSML_DEVICE_SITE:-/tmp/site}"
PY="${PYTHON:-python3}"
LIMIT_S="${CSML_GPU_TIME_LIMIT_S:-540}"
DRY="${CSML_DEVICE_DRY_RUN:-0}"
# Twice the CPU budget of the wcl pair, sized (by estimate, not yet measured: about 10 s an
# epoch there) so that both runs and the floors fit one 10-minute call. The time limit above
# keeps what finished, and a later call skips the runs that have a result.
DEFAULT_ARGS=(--pairs wcl --seeds 0 --epochs 12)
DEFAULT_OUT_DIR=docs/results/gpu
DEFAULT_WORK_DIR=/tmp/csml_quality_gpu
say() { printf '[gpu_quality] %s\n' "$*"; }
die() { printf '[gpu_quality] ERROR: %s\n' "$*" >&2; exit 1; }

ARGS=()
for a in "$@"; do
  if [[ "$a" == --dry-run ]]; then DRY=1; else ARGS+=("$a"); fi
done
((${#ARGS[@]})) || ARGS=("${DEFAULT_ARGS[@]}")
has_opt() { local a; for a in "${ARGS[@]}"; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done; return 1; }
has_opt --out-dir || ARGS+=(--out-dir "$DEFAULT_OUT_DIR")
has_opt --work-dir || ARGS+=(--work-dir "$DEFAULT_WORK_DIR")
OUT_DIR="$DEFAULT_OUT_DIR"; WORK_DIR="$DEFAULT_WORK_DIR"
for ((i = 0; i < ${#ARGS[@]}; i++)); do
  case "${ARGS[$i]}" in
    --out-dir) OUT_DIR="${ARGS[$((i + 1))]:-}" ;;
    --out-dir=*) OUT_DIR="${ARGS[$i]#--out-dir=}" ;;
    --work-dir) WORK_DIR="${ARGS[$((i + 1))]:-}" ;;
    --work-dir=*) WORK_DIR="${ARGS[$i]#--work-dir=}" ;;
  esac
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
BENCH_CMD=("$PY" tools/benchmarks/bench_quality.py "${ARGS[@]}")
if [[ "$LIMIT_S" != 0 ]]; then BENCH_CMD=(timeout -k 20 "$LIMIT_S" "${BENCH_CMD[@]}"); fi
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}" FASHION_MNIST_ROOT="$(cd "$FMNIST" && pwd)" PYTHONUNBUFFERED=1
if [[ "$DRY" == 1 ]]; then
  echo "PYTHONPATH=$PYTHONPATH"
  echo "FASHION_MNIST_ROOT=$FASHION_MNIST_ROOT"
  echo "${PIP_CMD[*]}"
  echo "${BENCH_CMD[*]}"
  exit 0
fi

# ---------------------------------------------------------------- install and check
say "installing ${#WHEEL_FILES[@]} wheels into $SITE (no index, no dependencies)"
"${PIP_CMD[@]}"
# model-index's wheel ships a top-level package named 'tests', which would shadow ours
[[ -f "$SITE/tests/test_yml_head.py" ]] && rm -rf "$SITE/tests"
ENV_TXT="$(mktemp "${TMPDIR:-/tmp}/gpu_env.XXXXXX")"
{ echo "\$ ${PIP_CMD[*]}"; echo "\$ ${BENCH_CMD[*]}"; echo "PYTHONPATH=$PYTHONPATH";
  echo "FASHION_MNIST_ROOT=$FASHION_MNIST_ROOT"; nvidia-smi 2>&1 || true; } > "$ENV_TXT"
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
  fi
  say "packed into $OUT: $(ls "$OUT" | tr '\n' ' ')"
}
say "\$ ${BENCH_CMD[*]}"
rc=0
"${BENCH_CMD[@]}" || rc=$?
if [[ "$rc" == 124 || "$rc" == 137 ]]; then
  say "bench_quality.py stopped at the time limit (${LIMIT_S} s); runs with a result are kept"
fi
if [[ "$rc" != 0 ]]; then
  # the report is rebuilt after each pair; rebuild it from every result that made it
  "$PY" tools/benchmarks/bench_quality.py "${ARGS[@]}" --report-only || true
fi
pack
exit "$rc"
