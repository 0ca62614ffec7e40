#!/usr/bin/env bash
# Fine-tune a csml_mm backbone on COCO with Mask R-CNN R50-FPN (configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_ms-1x_coco.py).
# Usage: [COCO_ROOT=/data/coco] bash tools/benchmarks/mmdetection/train_fpn.sh CONFIG PRETRAIN GPUS [tools/train.py args...]
# See _train_det.sh for the arguments and docs/detection.md for the protocol.
set -euo pipefail
SCRIPT_NAME="$0" exec bash "$(dirname "$0")/_train_det.sh" fpn "$@"
