#!/usr/bin/env bash
# Fine-tune a csml_mm backbone on COCO with Mask R-CNN R50-C4 (configs/benchmarks/mmdetection/mask-rcnn_r50-c4_ms-{1x,2x}_coco.py);
# the checkpoint also initialises the res5 shared head (its layer4.* keys).
# Usage: [COCO_ROOT=/data/coco] bash tools/benchmarks/mmdetection/train_c4.sh CONFIG PRETRAIN GPUS [tools/train.py args...]
# See _train_det.sh for the arguments and docs/detection.md for the protocol.
set -euo pipefail
SCRIPT_NAME="$0" exec bash "$(dirname "$0")/_train_det.sh" c4 "$@"
