#!/usr/bin/env bash
# Run HERE (a machine with the package registries), once, before a GPU session: fill the
# git-ignored folder .device_wheels/ with everything tools/device/gpu_quality.sh installs on
# the GPU machine, which has Python 3.12 with torch but no network:
#   - the wheels of tools/device/wheels.txt: mmengine and mmpretrain (versions from
#     requirements/pins.txt), mmcv built from its sdist WITHOUT compiled ops (MMCV_WITH_OPS=0,
#     a pure-Python wheel named mmcv-lite; pretraining needs no ops), and the pure-Python
#     requirements the GPU image lacks (tools/device/gpu_image_packages.txt lists what it has);
#   - the four Fashion-MNIST IDX .gz files, under .device_wheels/fashion-mnist/.
# Idempotent: what is there already is kept (a wheel of another version is replaced).
# The run tool carries the folder (`carry: [".device_wheels"]`); with the working tree it must
# stay under 64 MiB, so this fails above 60 MiB.
#
# Switches (environment variables):
#   CSML_DEVICE_WHEELS=.device_wheels   the folder to fill
#   PYTHON=python3                      interpreter that runs pip here (any Python >= 3.8)
#   CSML_MM_CACHE=~/.cache/csml_mm      where the mmcv build environment is kept
#   FASHION_MNIST_ROOT=/usr/share/datasets/fashion-mnist   where the IDX files are read from
#   CSML_DEVICE_WHEELS_MAX_MIB=60       size limit of the folder
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DEST="${CSML_DEVICE_WHEELS:-$ROOT/.device_wheels}"
LIST="$ROOT/tools/device/wheels.txt"
PINS="$ROOT/requirements/pins.txt"
PY="${PYTHON:-python3}"
CACHE="${CSML_MM_CACHE:-$HOME/.cache/csml_mm}"
MAX_MIB="${CSML_DEVICE_WHEELS_MAX_MIB:-60}"
FMNIST_SRC="${FASHION_MNIST_ROOT:-/usr/share/datasets/fashion-mnist}"
FMNIST_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
              t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
# The GPU machine: CPython 3.12 on x86-64 Linux. Pure-Python wheels match any platform.
TARGET=(--python-version 3.12 --implementation cp --abi cp312
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux2014_x86_64 --platform any)
say() { printf '[prepare_wheels] %s\n' "$*"; }
die() { printf '[prepare_wheels] ERROR: %s\n' "$*" >&2; exit 1; }
pin() { grep -E "^$1([=<>!~ ]|$)" "$PINS" | head -1 | sed -E 's/[[:space:]]*#.*//'; }
# wheel file names spell a distribution in lower case with '_' for '-' and '.'
wheel_name() { echo "$1" | tr 'A-Z.-' 'a-z__'; }

mkdir -p "$DEST"

# ---------------------------------------------------------------- the list
SPECS=()
while IFS= read -r line; do
  line="${line%%#*}"; line="$(echo "$line" | xargs)"
  [[ -z "$line" ]] && continue
  if [[ "$line" != *==* ]]; then
    p="$(pin "$line")"
    [[ "$p" == "$line=="* ]] || die "$line in $LIST has no version and requirements/pins.txt no '$line==' pin"
    line="$p"
  fi
  SPECS+=("$line")
done < "$LIST"

# ---------------------------------------------------------------- wheels from the registry
MISSING=()
MMCV_VER=""
for spec in "${SPECS[@]}"; do
  name="${spec%%==*}"; ver="${spec#*==}"
  if [[ "$name" == mmcv ]]; then MMCV_VER="$ver"; continue; fi
  w="$(wheel_name "$name")"
  if compgen -G "$DEST/$w-$ver-*.whl" >/dev/null; then continue; fi
  # another version of the same distribution would stop the install there: drop it
  for old in "$DEST/$w"-*.whl; do
    [[ -e "$old" ]] && { say "removing $(basename "$old") (want $ver)"; rm -f "$old"; }
  done
  MISSING+=("$spec")
done
if ((${#MISSING[@]})); then
  say "downloading ${MISSING[*]}"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    "${TARGET[@]}" -d "$DEST" "${MISSING[@]}"
else
  say "registry wheels: all present"
fi

# ---------------------------------------------------------------- mmcv without ops
[[ -n "$MMCV_VER" ]] || die "mmcv is missing from $LIST"
if compgen -G "$DEST/mmcv_lite-$MMCV_VER-*.whl" >/dev/null; then
  say "mmcv-lite $MMCV_VER: present"
else
  for old in "$DEST"/mmcv_lite-*.whl "$DEST"/mmcv-*.whl; do
    [[ -e "$old" ]] && { say "removing $(basename "$old") (want mmcv-lite $MMCV_VER)"; rm -f "$old"; }
  done
  # mmcv 2.1's setup.py imports pkg_resources (gone in setuptools 82): build without isolation
  # in a small environment of our own with the setuptools pin of requirements/pins.txt.
  BVENV="$CACHE/device-mmcv-build-venv"
  SETUPTOOLS_PIN="$(pin setuptools)"
  [[ -n "$SETUPTOOLS_PIN" ]] || die "requirements/pins.txt has no setuptools pin"
  if [[ ! -x "$BVENV/bin/python" ]]; then
    say "creating the mmcv build environment $BVENV"
    "$PY" -m venv "$BVENV"
  fi
  "$BVENV/bin/python" -m pip install -q --disable-pip-version-check "$SETUPTOOLS_PIN" wheel
  BUILD="$(mktemp -d "${TMPDIR:-/tmp}/csml_mm_mmcv_lite.XXXXXX")"
  trap 'rm -rf "$BUILD"' EXIT
  say "building mmcv $MMCV_VER without ops (MMCV_WITH_OPS=0) from the sdist"
  "$BVENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
    --no-binary :all: --no-build-isolation -d "$BUILD" "mmcv==$MMCV_VER"
  tar -xzf "$BUILD/mmcv-$MMCV_VER.tar.gz" -C "$BUILD"
  ( cd "$BUILD/mmcv-$MMCV_VER" && MMCV_WITH_OPS=0 "$BVENV/bin/python" -m pip wheel -q \
      --disable-pip-version-check --no-build-isolation --no-deps -w "$BUILD/dist" . ) \
    > "$BUILD/build.log" 2>&1 || { tail -30 "$BUILD/build.log"; die "mmcv build failed"; }
  WHL="$(ls "$BUILD"/dist/mmcv_lite-"$MMCV_VER"-*.whl 2>/dev/null | head -1 || true)"
  [[ -n "$WHL" ]] || { ls "$BUILD/dist" >&2; die "the build made no mmcv_lite-$MMCV_VER wheel"; }
  [[ "$WHL" == *-none-any.whl ]] || die "$(basename "$WHL") is not a pure-Python wheel"
  if unzip -l "$WHL" | grep -qE 'mmcv/_ext[^/]*\.so'; then die "$(basename "$WHL") holds compiled ops"; fi
  cp "$WHL" "$DEST/"
  say "built $(basename "$WHL")"
fi

# every wheel of the list is there, exactly once
for spec in "${SPECS[@]}"; do
  name="${spec%%==*}"; ver="${spec#*==}"
  [[ "$name" == mmcv ]] && name=mmcv-lite
  n="$(compgen -G "$DEST/$(wheel_name "$name")-*.whl" | wc -l)"
  [[ "$n" == 1 ]] || die "expected one $name wheel in $DEST, found $n"
  compgen -G "$DEST/$(wheel_name "$name")-$ver-*.whl" >/dev/null || die "$name in $DEST is not $ver"
done

# ---------------------------------------------------------------- Fashion-MNIST
have_fmnist() { for f in "${FMNIST_FILES[@]}"; do [[ -f "$1/$f" ]] || return 1; done; }
if ! have_fmnist "$FMNIST_SRC"; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1 && \
     [[ "$FMNIST_SRC" == /usr/share/datasets/fashion-mnist ]]; then
    say "installing Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || true
  fi
  have_fmnist "$FMNIST_SRC" || die "Fashion-MNIST not found in $FMNIST_SRC: install it with" \
    "'apt-get install dataset-fashion-mnist' or set FASHION_MNIST_ROOT to a folder of the four IDX .gz files"
fi
mkdir -p "$DEST/fashion-mnist"
for f in "${FMNIST_FILES[@]}"; do
  if ! cmp -s "$FMNIST_SRC/$f" "$DEST/fashion-mnist/$f"; then
    gzip -t "$FMNIST_SRC/$f" || die "$FMNIST_SRC/$f is not a readable gzip file"
    cp "$FMNIST_SRC/$f" "$DEST/fashion-mnist/$f.part"
    mv "$DEST/fashion-mnist/$f.part" "$DEST/fashion-mnist/$f"
    say "copied $f"
  fi
done

# ---------------------------------------------------------------- size
BYTES="$(du -sb "$DEST" | cut -f1)"
MIB="$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')"
ls -l "$DEST"/*.whl | awk '{ printf "  %9d  %s\n", $5, $NF }'
say "$DEST: $MIB MiB ($(ls "$DEST"/*.whl | wc -l) wheels + Fashion-MNIST)"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  TREE="$(git -C "$ROOT" ls-files -z -co --exclude-standard | (cd "$ROOT" && xargs -0 -r stat -c %s 2>/dev/null) | awk '{ s += $1 } END { print s + 0 }')"
  say "the working tree that travels with it: $(awk -v b="${TREE:-0}" 'BEGIN { printf "%.1f", b / 1048576 }') MiB (the run tool's limit: 64 MiB together)"
fi
awk -v b="$BYTES" -v m="$MAX_MIB" 'BEGIN { exit !(b > m * 1048576) }' && \
  die "$DEST is $MIB MiB, over the $MAX_MIB MiB limit (the run tool carries 64 MiB with the working tree)"
say "ready: on the GPU machine run 'bash tools/device/gpu_quality.sh ...' with carry [\"$(basename "$DEST")\"]"
