#!/usr/bin/env bash
# Create .venv and install the pinned OpenMMLab stack (see requirements/pins.txt).
# Idempotent: a second run only checks what is there.
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
WANT="$(sha256sum "$PINS" setup.py | sha256sum | cut -c1-16)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && "$VENV/bin/python" -c "import csml_mm, mmcv.ops, mmdet.models" 2>/dev/null; then
  say "environment up to date ($VENV)"; exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

say "installing torch/torchvision ($(pin torch), $(pin torchvision))"
"${PIP[@]}" install -q "$(pin torch)" "$(pin torchvision)" "$(pin setuptools)" wheel

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
MMCV_PIN="$(pin mmcv)"; MMCV_VER="${MMCV_PIN#mmcv==}"
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

say "installing mmengine, mmpretrain, mmdet and test dependencies"
grep -vE '^(#|$|torch|torchvision|mmcv)' "$PINS" > "$VENV/.reqs.txt"
"${PIP[@]}" install -q -r "$VENV/.reqs.txt" "$(pin torch)" "$(pin torchvision)" "$MMCV_PIN" \
  addict opencv-python yapf
say "installing csml_mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

"$VPY" - <<'PY'
import torch, mmcv, mmengine, mmpretrain, mmdet, mmcv.ops  # noqa
import csml_mm  # noqa
print(f'[setup] ok: torch {torch.__version__} mmcv {mmcv.__version__} mmengine {mmengine.__version__} '
      f'mmpretrain {mmpretrain.__version__} mmdet {mmdet.__version__} csml_mm {csml_mm.__version__}')
PY
echo "$WANT" > "$STAMP"
