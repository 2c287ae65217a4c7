#!/usr/bin/env bash
# The built-in demo, end to end with no download: set up .venv, write a small
# synthetic PASCAL VOC 2012 + SBD set in their real formats, build the aug set,
# train FCN-8s on CPU, evaluate it (aAcc/mIoU/mAcc and per-class IoU) and write
# the prediction for one of the held-out images (an overlay with a legend and
# the palette PNG) into the work dir's predictions/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash tools/setup_env.sh
PY=.venv/bin/python
DATA=data/demo
CONFIG=configs/demo/fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py
WORK_DIR=work_dirs/demo
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

SECONDS=0
echo "demo: [1/5] writing the synthetic VOC 2012 + SBD set to $DATA"
"$PY" tools/misc/make_demo_data.py "$DATA"
echo "demo: [2/5] building SegmentationClassAug, aug.txt and trainaug.txt"
"$PY" tools/convert_datasets/voc_aug.py "$DATA/VOCdevkit" "$DATA/benchmark_RELEASE" --nproc 2
echo "demo: [3/5] training FCN-8s ($CONFIG)"
rm -rf "$WORK_DIR"  # the demo's own output; a fresh run each time
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
CKPT="$WORK_DIR/$(cat "$WORK_DIR/last_checkpoint")"  # relative to the work dir
echo "demo: [4/5] evaluating $CKPT on the held-out VOC val images"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR"
IMG="$DATA/VOCdevkit/VOC2012/JPEGImages/$(head -n 1 "$DATA/VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").jpg"
echo "demo: [5/5] colourised prediction for $IMG"
"$PY" tools/predict.py "$CONFIG" "$CKPT" "$IMG" --out-dir "$WORK_DIR/predictions" --save-index
echo "demo: done in ${SECONDS} s"
