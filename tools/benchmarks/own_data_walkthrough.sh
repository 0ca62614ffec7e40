#!/usr/bin/env bash
# The walk-through of docs/own_data.md, run and timed on a real folder: a few thousand clip-art
# files of 11 categories from Debian's openclipart-png package (RGBA, palette and grey + alpha
# PNGs from 32 px to 16,000 px, byte-identical copies across categories, real decompression
# bombs). Every step is the command the page shows; its wall time goes to OUT/steps.tsv and
# each evaluation's JSON to OUT/<name>.json; tools/benchmarks/report_own_data.py turns them
# into docs/results/own_data.md.
#
#   apt-get install openclipart-png      # once, as root (about 30 MB)
#   bash tools/benchmarks/own_data_walkthrough.sh [OUT] [METHOD ...]
#
# OUT defaults to ~/.cache/csml_mm/own_data; METHODs (default: all) are mocov2 csml wcl aps.
# A step whose result is already in OUT is not redone, so an interrupted run resumes (a
# pretraining step resumes from its last checkpoint). Run it on a quiet machine: the times are
# the point. Set PYTHON to use another interpreter than the repository's .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-$HOME/.cache/csml_mm/own_data}
shift || true
METHODS=${*:-mocov2 csml wcl aps}
SRC=${OPENCLIPART_ROOT:-/usr/share/openclipart/png}
CLASSES="animals computer food geography office people recreation shapes signs_and_symbols tools transportation"
if [ ! -d "$SRC" ]; then
    echo "error: $SRC is missing; install Debian's openclipart-png (apt-get install openclipart-png)" >&2
    exit 2
fi
mkdir -p "$OUT"
TSV=$OUT/steps.tsv
[ -f "$TSV" ] || printf 'step\tseconds\tcommand\n' > "$TSV"

step() {  # step NAME DONE_FILE COMMAND...: run COMMAND unless DONE_FILE exists; time it
    local name=$1 done_file=$2
    shift 2
    if [ -e "$done_file" ]; then
        echo "[walkthrough] $name: done before ($done_file)"
        return
    fi
    echo "[walkthrough] $name: $*"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > "$OUT/$name.log" 2>&1 || { echo "error: step $name failed; see $OUT/$name.log" >&2; tail -20 "$OUT/$name.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    printf '%s\t%.1f\t%s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$*" >> "$TSV"
    printf "[walkthrough] %s: %.0f s\n" "$name" "$(echo "$t1 - $t0" | bc)"
}

DATA=$OUT/data
step split "$DATA/split/split.json" "$PY" tools/dataset_converters/split_folder.py "$SRC" \
    "$DATA/split" --classes $CLASSES --max-per-class 400 --seed 0
step prepare "$DATA/clipart_96/prepare_folder_skipped.txt" "$PY" \
    tools/dataset_converters/prepare_folder.py "$DATA/split" "$DATA/clipart_96" --max-side 96
export CSML_DATA_ROOT=$DATA/clipart_96/train CSML_EVAL_ROOT=$DATA/clipart_96

config_of() {
    case $1 in
        mocov2) echo configs/mocov2/mocov2_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py ;;
        csml) echo configs/csml/csml_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py ;;
        wcl) echo configs/wcl/wcl_resnet18-w16_1xb128-64px-coslr-60e_folder.py ;;
        aps) echo configs/aps/aps_vit-d4w64-p8_1xb128-64px-coslr-60e_folder.py ;;
        *) echo "error: unknown method $1 (mocov2 csml wcl aps)" >&2; exit 2 ;;
    esac
}
KNN=tools/analysis_tools/knn_eval.py
# the floors: raw pixels, and each backbone at random initialisation
step knn-raw-pixels "$OUT/knn-raw-pixels.json" "$PY" $KNN "$(config_of mocov2)" --raw-pixels \
    --linear-probe --out "$OUT/knn-raw-pixels.json"
step knn-random-resnet "$OUT/knn-random-resnet.json" "$PY" $KNN "$(config_of mocov2)" \
    --random-init --linear-probe --out "$OUT/knn-random-resnet.json"
for m in $METHODS; do
    cfg=$(config_of "$m")
    work=$OUT/work/$m
    if [ "$m" = aps ]; then
        step knn-random-vit "$OUT/knn-random-vit.json" "$PY" $KNN "$cfg" --random-init \
            --linear-probe --out "$OUT/knn-random-vit.json"
    fi
    resume=()
    [ -f "$work/last_checkpoint" ] && resume=(--resume)
    step "pretrain-$m" "$work/epoch_60.pth" "$PY" tools/train.py "$cfg" --work-dir "$work" \
        "${resume[@]}"
    step "knn-$m" "$OUT/knn-$m.json" "$PY" $KNN "$cfg" "$work/epoch_60.pth" --linear-probe \
        --out "$OUT/knn-$m.json"
done
# export: the backbone alone (loads with torch.load(weights_only=True) and mmengine's Pretrained)
mkdir -p "$OUT/export"
for m in $METHODS; do
    work=$OUT/work/$m
    step "export-$m" "$OUT/export/$m-backbone.pth" "$PY" tools/model_converters/extract_backbone.py \
        "$work/epoch_60.pth" "$OUT/export/$m-backbone.pth"
done
echo "[walkthrough] all steps done: $TSV"
