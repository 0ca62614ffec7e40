#!/usr/bin/env bash
# Shared by train_fpn.sh, train_c4.sh and train_vit.sh; not meant to be run directly.
# Usage: bash _train_det.sh {fpn|c4|vit} CONFIG PRETRAIN GPUS [tools/train.py args...]
#   PRETRAIN  a csml_mm training checkpoint (epoch_N.pth) or the output of
#             tools/model_converters/extract_backbone.py; loaded with weights_only=True.
#   GPUS      processes on this node; 1 (and NNODES unset or 1) trains in one process
#             without a launcher (SyncBN then runs as plain BN), more go through
#             tools/dist_train.sh (torchrun; NNODES, NODE_RANK, MASTER_ADDR, PORT).
# Environment: COCO_ROOT (the configs read it; default data/coco), PYTHON (default
# python), WORK_DIR (default work_dirs/benchmarks/mmdetection/<config>/<checkpoint>).
# Extra arguments go to tools/train.py (e.g. --amp, --auto-scale-lr, --resume,
# --work-dir, --cfg-options key=value ...); they come last and so take precedence.
set -euo pipefail

usage() {
    echo "usage: bash $(basename "${SCRIPT_NAME:-$0}") CONFIG PRETRAIN GPUS [tools/train.py args...]" >&2
}
if [ $# -lt 4 ]; then
    usage
    exit 2
fi
KIND=$1
CONFIG=$2
PRETRAIN=$3
GPUS=$4
shift 4

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
PYTHON=${PYTHON:-python}
NNODES=${NNODES:-1}

if [ ! -f "$CONFIG" ]; then
    echo "error: config file '$CONFIG' does not exist." >&2
    usage
    exit 2
fi
if [ ! -f "$PRETRAIN" ]; then
    echo "error: pretrained checkpoint '$PRETRAIN' does not exist; pass a csml_mm training" \
         "checkpoint or the output of tools/model_converters/extract_backbone.py." >&2
    usage
    exit 2
fi
case "$PRETRAIN" in
    *,*) echo "error: the checkpoint path '$PRETRAIN' contains a comma, which --cfg-options" \
              "would split into a list; rename or link the file." >&2
         exit 2 ;;
esac
if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: GPUS must be a positive integer, got '$GPUS'." >&2
    usage
    exit 2
fi
if [ -n "${COCO_ROOT:-}" ] && [ ! -d "$COCO_ROOT/annotations" ]; then
    echo "error: COCO_ROOT='$COCO_ROOT' has no annotations/ folder; it must hold" \
         "annotations/instances_{train,val}2017.json, train2017/ and val2017/." >&2
    exit 2
fi

PRETRAIN="$(cd "$(dirname "$PRETRAIN")" && pwd)/$(basename "$PRETRAIN")"
CFG_NAME="$(basename "$CONFIG" .py)"
CKPT_NAME="$(basename "$PRETRAIN")"
CKPT_NAME="${CKPT_NAME%.*}"
WORK_DIR=${WORK_DIR:-"work_dirs/benchmarks/mmdetection/$CFG_NAME/$CKPT_NAME"}

OPTIONS=("model.backbone.init_cfg.checkpoint=$PRETRAIN")
case "$KIND" in
    fpn|vit) ;;
    c4) # The res5 shared head takes the backbone's layer4.* weights.
        OPTIONS+=("model.roi_head.shared_head.init_cfg.checkpoint=$PRETRAIN") ;;
    *) echo "error: unknown detector kind '$KIND' (fpn, c4 or vit)." >&2; exit 2 ;;
esac

if [ "$GPUS" -eq 1 ] && [ "$NNODES" -eq 1 ]; then
    PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
    exec "$PYTHON" "$ROOT/tools/train.py" "$CONFIG" --work-dir "$WORK_DIR" \
        --cfg-options "${OPTIONS[@]}" "$@"
else
    PYTHON="$PYTHON" exec bash "$ROOT/tools/dist_train.sh" "$CONFIG" "$GPUS" \
        --work-dir "$WORK_DIR" --cfg-options "${OPTIONS[@]}" "$@"
fi
