#!/usr/bin/env bash
# Retrain and reconvert the bundled model family (issue 6): `make models`.
#
# Needs the development data beside the repository (../shared/data: the recipes in
# edge_deblur/recipes/ name their folders relative to the repository root). Resumable: a run folder
# that already exists is continued with --resume (stop it at any time and start it again).
# Time on a 2-core x86-64 host (measured): cnn-faster-lc trains at about 8.4 steps/s alone, 6-7
# beside a conversion, 3.3 beside a second training run (16,000 steps: 35-40 min alone, 82 min
# beside another run);
# cnn-lite trains at 5.2 steps/s alone (20,000 steps, about 65 min), ~2.7 steps/s with a second
# job beside it; cnn-tiny's 10,000 steps took 64 min beside cnn-lite. QAT + int8 conversion +
# validation: about 3-4 min per model, fp32 under 1 min.
# On a 2-core AVX-512 host (stop 16) training is 3-5x faster: cnn-faster-lc's recipe at 16-18
# steps/s beside a second run (16,000 steps in 15-18 min), the 5x wider cnn-wide experiment at 21
# steps/s (16,000 steps in 13 min); an int8 conversion about 2-4 min. Stop 18 on that host:
# cnn-wide-srgb-b2 (bound0) at 9.6-9.9 steps/s beside a second run (16,000 steps in 28 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
ED=${ED:-.venv/bin/edge-deblur}
PY=${PY:-.venv/bin/python}
SHARED=${SHARED:-../shared/data}
WORK=${WORK:-runs/release}
MODELS=${MODELS:-cnn-faster-lc-srgb cnn-wide-srgb-b2 cnn-faster-lc cnn-lite cnn-tiny}
# Models bundled as int8 only (no fp32 twin): the previous default, kept as an alternative.
INT8_ONLY=" cnn-faster-lc "
# Fixed int8 input per model: the cnn-faster-lc models (the default among them) and the quality
# tier cnn-wide-srgb-b2 are converted for whole 640x480 frames (one invoke per VGA frame; larger
# frames run as tiles of that size), the others for 256x256 tiles.
# INPUT_SIZE overrides it for every model.
input_size() {
  if [ -n "${INPUT_SIZE:-}" ]; then echo "$INPUT_SIZE"; return; fi
  case "$1" in cnn-fast* | cnn-wide*) echo 480x640 ;; *) echo 256x256 ;; esac
}
CLIP=$SHARED/video/gopro_GOPR0477_11_00_raw240fps_299frames.mp4

mkdir -p "$WORK"
# Real blur, the GoPro recipe: averaged 240 fps frames, the centre frame is the sharp target.
[ -d "$WORK/clip_a5" ] || $ED data from-video "$CLIP" --average 5 --stride 4 --out "$WORK/clip_a5"
[ -d "$WORK/clip_a7" ] || $ED data from-video "$CLIP" --average 7 --stride 4 --out "$WORK/clip_a7"
[ -d "$WORK/clip_a9" ] || $ED data from-video "$CLIP" --average 9 --stride 4 --out "$WORK/clip_a9"
[ -d "$WORK/clip_a13" ] || $ED data from-video "$CLIP" --average 13 --stride 6 --out "$WORK/clip_a13"
# The same windows averaged on the encoded values, as gopro_dev was made (the default's pairs).
[ -d "$WORK/clip_s5" ] || $ED data from-video "$CLIP" --average 5 --stride 4 --space srgb --out "$WORK/clip_s5"
[ -d "$WORK/clip_s7" ] || $ED data from-video "$CLIP" --average 7 --stride 4 --space srgb --out "$WORK/clip_s7"
[ -d "$WORK/clip_s9" ] || $ED data from-video "$CLIP" --average 9 --stride 4 --space srgb --out "$WORK/clip_s9"
[ -d "$WORK/clip_s13" ] || $ED data from-video "$CLIP" --average 13 --stride 6 --space srgb --out "$WORK/clip_s13"
# Calibration and QAT pairs: of the blur each model trained on.
calib() { case "$1" in *srgb*) echo "$WORK/clip_s9" ;; *) echo "$WORK/clip_a9" ;; esac; }

for m in $MODELS; do
  resume=()
  [ -f "$WORK/$m/config.yaml" ] && resume=(--resume)
  $ED train --config "edge_deblur/recipes/$m.yaml" --out "$WORK/$m" "${resume[@]}"
  # int8 after quantization-aware fine-tuning (distilled from the float model) and its fp32 twin
  # at the same fixed input size; both validated against the Keras model on held-back pairs.
  size=$(input_size "$m")
  $ED convert "$WORK/$m" -o "$WORK/$m-int8.tflite" --quant int8 --qat-steps 300 \
    --pairs "$(calib "$m")" --input-size "$size" --force
  cp "$WORK/$m-int8.tflite" runtime/zoo/
  if [[ "$INT8_ONLY" != *" $m "* ]]; then
    $ED convert "$WORK/$m" -o "$WORK/$m-fp32.tflite" --quant fp32 \
      --pairs "$(calib "$m")" --input-size "$size" --force
    cp "$WORK/$m-fp32.tflite" runtime/zoo/
  fi
done
# The default again for whole 1280x720 frames (736 rows: a multiple of its pad multiple, 32).
if [[ " $MODELS " == *" cnn-faster-lc-srgb "* ]]; then
  $ED convert "$WORK/cnn-faster-lc-srgb" -o "$WORK/cnn-faster-lc-srgb-720p-int8.tflite" \
    --quant int8 --qat-steps 300 --pairs "$WORK/clip_s9" --input-size 736x1280 --force
  cp "$WORK/cnn-faster-lc-srgb-720p-int8.tflite" runtime/zoo/
fi
# The evaluation on gopro_dev (held-out scenes reported apart) and the board projections.
$PY benchmarks/scripts/model_quality.py --pairs "$SHARED/gopro_dev" --card runtime/zoo/MODEL_CARD.md --force
