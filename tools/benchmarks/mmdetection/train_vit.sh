#!/usr/bin/env bash
# Fine-tune a csml_mm backbone on COCO with Mask R-CNN with a plain ViT and a simple feature pyramid
# (configs/benchmarks/mmdetection/mask-rcnn_vit-base-p16_simple-fpn_8xb2-amp-lsj-100e_coco.py).
# Usage: [COCO_ROOT=/data/coco] bash tools/benchmarks/mmdetection/train_vit.sh CONFIG PRETRAIN GPUS [tools/train.py args...]
# See _train_det.sh for the arguments and docs/detection.md for the protocol.
set -euo pipefail
SCRIPT_NAME="$0" exec bash "$(dirname "$0")/_train_det.sh" vit "$@"
