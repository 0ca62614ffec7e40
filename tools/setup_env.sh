#!/usr/bin/env bash
# Create .venv and install the pinned OpenMMLab stack (see requirements/pins.txt).
# Idempotent: a second run only checks what is there.
#
#   bash tools/setup_env.sh        the main job's stack (make setup): torch, mmcv-lite (mmcv
#                                  without compiled ops, a pure-Python wheel: no build),
#                                  mmengine, mmpretrain. An environment that already has the
#                                  detection stack keeps it (it is a superset).
#   bash tools/setup_env.sh det    the detection stack (make setup-det; make test and make
#                                  bench-transfer call it): mmcv 2.1.0 with its compiled ops
#                                  (built from the sdist once, cached outside the repo) and mmdet.
#   bash tools/setup_env.sh lite   back to the main job's stack (make setup-lite): removes the
#                                  compiled mmcv and mmdet.
# mmcv and mmcv-lite both install the package `mmcv`: a switch uninstalls one before installing
# the other, so only one of them is ever installed.
#
# Switches (environment variables):
#   PYTHON=python3.11         interpreter used to create .venv
#   CSML_MM_CACHE=~/.cache/csml_mm   where the built mmcv wheel is kept (outside the repo)
#   MMCV_WITH_CUDA=auto|0|1   build mmcv's CUDA ops: auto = when nvcc exists and torch sees a GPU
#   TORCH_CUDA_ARCH_LIST=...  passed to the CUDA build (e.g. "8.0;9.0")
#   MAX_JOBS=2                parallel compile jobs for the mmcv build
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
PINS="$ROOT/requirements/pins.txt"
CACHE="${CSML_MM_CACHE:-$HOME/.cache/csml_mm}"
say() { printf '[setup] %s\n' "$*"; }
MODE="${1:-main}"
case "$MODE" in main|lite|det) ;; *)
  echo "[setup] unknown stack '$MODE': use no argument (the main job), 'det' or 'lite'" >&2; exit 2;;
esac
T0=$SECONDS
pin() { grep -E "^$1([=<>!~ ]|$)" "$PINS" | head -1; }

# Fashion-MNIST (the demo's and the quality table's data) ships as a Debian package; install it
# where we can, otherwise say how. Never fatal: the demo falls back to the embedded digits.
FMNIST_DIR="${FASHION_MNIST_ROOT:-/usr/share/datasets/fashion-mnist}"
if [[ ! -f "$FMNIST_DIR/t10k-labels-idx1-ubyte.gz" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    { apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }; } \
      || say "could not install dataset-fashion-mnist; the demo will use the embedded digits"
  else
    say "Fashion-MNIST not found in $FMNIST_DIR: run 'sudo apt-get install dataset-fashion-mnist'" \
        "or set FASHION_MNIST_ROOT to a folder of the four IDX .gz files (the demo falls back to digits)"
  fi
fi

STAMP="$VENV/.csml_mm_setup_stamp"
WANT="$(sha256sum "$PINS" setup.py "$ROOT/tools/setup_env.sh" | sha256sum | cut -c1-16)"
VPY="$VENV/bin/python"
# which mmcv distribution is installed now: mmcv (compiled ops), mmcv-lite, or none
installed_mmcv() {
  [[ -x "$VPY" ]] || { echo none; return; }
  "$VPY" - <<'PY' 2>/dev/null || echo none
import importlib.metadata as m
found = []
for dist in ('mmcv', 'mmcv-lite'):
    try:
        m.distribution(dist)
        found.append(dist)
    except m.PackageNotFoundError:
        pass
print('+'.join(found) or 'none')
PY
}
HAVE="$(installed_mmcv)"
# the stack to install: det for `det`; lite for `lite`; for the main job, keep a working
# detection stack (a superset of what it needs), else lite
if [[ "$MODE" == det ]]; then STACK=det
elif [[ "$MODE" == lite ]]; then STACK=lite
elif [[ "$HAVE" == mmcv ]] && "$VPY" -c "import mmcv.ops, mmdet" 2>/dev/null; then STACK=det
else STACK=lite; fi
if [[ "$STACK" == det ]]; then CHECK="import csml_mm, mmpretrain, mmcv.ops, mmdet.models"
else CHECK="import csml_mm, mmpretrain, mmcv"; fi
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT-$STACK" ]] && "$VPY" -c "$CHECK" 2>/dev/null; then
  say "environment up to date ($VENV, $([[ $STACK == det ]] && echo 'detection stack: mmcv with ops, mmdet' || echo 'main-job stack: mmcv-lite; make setup-det adds detection'))"
  exit 0
fi
rm -f "$STAMP"

if [[ ! -x "$VPY" ]]; then
  say "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
PIP=("$VPY" -m pip --disable-pip-version-check)

say "installing torch/torchvision ($(pin torch), $(pin torchvision))"
"${PIP[@]}" install -q "$(pin torch)" "$(pin torchvision)" "$(pin setuptools)" wheel

MMCV_PIN="$(pin mmcv)"; MMCV_VER="${MMCV_PIN#mmcv==}"
if [[ "$STACK" == lite ]]; then
  if [[ "$HAVE" != none && "$HAVE" != mmcv-lite ]]; then
    say "switching to mmcv-lite: removing the compiled mmcv and mmdet (make setup-det brings them back from the cache)"
    # mmcv-lite too when both are recorded: they share the folder mmcv/, so reinstall it whole
    "${PIP[@]}" uninstall -q -y mmcv mmcv-lite mmdet 2>/dev/null || true
  fi
  say "installing mmcv-lite $MMCV_VER (mmcv without compiled ops: a pure-Python wheel, no build)"
  "${PIP[@]}" install -q "mmcv-lite==$MMCV_VER"
  MMCV_REQ="mmcv-lite==$MMCV_VER"
else
  if [[ "$HAVE" == *mmcv-lite* ]]; then
    say "switching to the compiled mmcv: removing mmcv-lite"
    "${PIP[@]}" uninstall -q -y mmcv-lite
    # both own the package folder mmcv/: a mixed install leaves files of the other behind
    "${PIP[@]}" uninstall -q -y mmcv 2>/dev/null || true
  fi
  TORCH_VER="$("$VPY" -c 'import torch; print(torch.__version__.split("+")[0])')"
  PYTAG="$("$VPY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
  WITH_CUDA="${MMCV_WITH_CUDA:-auto}"
  if [[ "$WITH_CUDA" == auto ]]; then
    if command -v nvcc >/dev/null 2>&1 && "$VPY" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
      WITH_CUDA=1; else WITH_CUDA=0; fi
  fi
  if [[ "$WITH_CUDA" == 1 ]]; then
    CUDA_TAG="cu$("$VPY" -c 'import torch; print((torch.version.cuda or "none").replace(".", ""))')"
  else
    CUDA_TAG=cpu
  fi
  WHEEL_DIR="$CACHE/mmcv-$MMCV_VER/torch-$TORCH_VER-$CUDA_TAG-$PYTAG"
  mkdir -p "$WHEEL_DIR"

  if ! "$VPY" -c "import mmcv, mmcv.ops, sys; sys.exit(0 if mmcv.__version__ == '$MMCV_VER' else 1)" 2>/dev/null; then
    WHEEL="$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -1 || true)"
    if [[ -z "$WHEEL" ]]; then
      say "no cached mmcv wheel in $WHEEL_DIR: building mmcv $MMCV_VER with ops (CUDA=$WITH_CUDA)."
      say "this takes about 15 minutes on 2 cores, once; later runs reuse the wheel."
      BUILD="$(mktemp -d "${TMPDIR:-/tmp}/csml_mm_mmcv.XXXXXX")"
      "${PIP[@]}" download -q --no-deps --no-binary :all: -d "$BUILD" "$MMCV_PIN"
      tar -xzf "$BUILD"/mmcv-"$MMCV_VER".tar.gz -C "$BUILD"
      SRC="$BUILD/mmcv-$MMCV_VER"
      # torch >= 2.6 headers need C++20; mmcv 2.1 hard-codes older standards.
      sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
      "${PIP[@]}" install -q ninja 2>/dev/null || true
      export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}"
      if [[ "$WITH_CUDA" == 1 ]]; then export FORCE_CUDA=1; else export FORCE_CUDA=0; fi
      ( cd "$SRC" && "${PIP[@]}" wheel -v --no-build-isolation --no-deps -w "$BUILD/dist" . ) \
        > "$BUILD/build.log" 2>&1 &
      BPID=$!
      while kill -0 $BPID 2>/dev/null; do
        sleep 30; say "  ... mmcv build: $(grep -o '\[[0-9]*/[0-9]*\]' "$BUILD/build.log" 2>/dev/null | tail -1 || true) objects compiled (log: $BUILD/build.log)"
      done
      if ! wait $BPID; then tail -40 "$BUILD/build.log"; say "mmcv build FAILED (log: $BUILD/build.log)"; exit 1; fi
      cp "$BUILD"/dist/mmcv-*.whl "$WHEEL_DIR/.tmp.whl.part"
      mv "$WHEEL_DIR/.tmp.whl.part" "$WHEEL_DIR/$(basename "$BUILD"/dist/mmcv-*.whl)"
      WHEEL="$(ls "$WHEEL_DIR"/mmcv-*.whl | head -1)"
      rm -rf "$BUILD"
      say "cached $WHEEL"
    else
      say "reusing cached mmcv wheel $WHEEL"
    fi
    "${PIP[@]}" install -q --no-deps "$WHEEL"
  fi

  MMCV_REQ="$MMCV_PIN"
fi

if [[ "$STACK" == det ]]; then SKIP='torch|torchvision|mmcv'; WHAT='mmengine, mmpretrain, mmdet'
else SKIP='torch|torchvision|mmcv|mmdet'; WHAT='mmengine, mmpretrain'; fi
say "installing $WHAT and the test dependencies"
grep -vE "^(#|\$|$SKIP)" "$PINS" > "$VENV/.reqs.txt"
"${PIP[@]}" install -q -r "$VENV/.reqs.txt" "$(pin torch)" "$(pin torchvision)" "$MMCV_REQ" \
  addict opencv-python yapf
say "installing csml_mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

STACK="$STACK" "$VPY" - <<'PY'
import importlib.metadata as md
import os

import torch, mmcv, mmengine, mmpretrain  # noqa
import csml_mm  # noqa
det = os.environ['STACK'] == 'det'
if det:
    import mmcv.ops, mmdet, mmdet.models  # noqa
dists = [d for d in ('mmcv', 'mmcv-lite') if any(
    x.metadata['Name'].lower() == d for x in md.distributions())]
assert len(dists) == 1, f'expected one mmcv distribution, found {dists}'
extra = f' mmdet {mmdet.__version__}' if det else ''
print(f'[setup] ok: torch {torch.__version__} {dists[0]} {mmcv.__version__} mmengine '
      f'{mmengine.__version__} mmpretrain {mmpretrain.__version__}{extra} csml_mm '
      f'{csml_mm.__version__}')
PY
echo "$WANT-$STACK" > "$STAMP"
if [[ "$STACK" == det ]]; then
  say "detection stack ready in $((SECONDS - T0)) s (mmcv with compiled ops, mmdet)"
else
  say "main-job stack ready in $((SECONDS - T0)) s (mmcv-lite; detection transfer: make setup-det)"
fi
