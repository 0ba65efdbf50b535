#!/usr/bin/env bash
# The photo folders of ../shared/data/sharp_photos without the two that cannot hold a 256 px crop
# (skimage's page.png, 384x191, and text.png, 448x172), as symlinks under runs/release/photos256:
# the data of edge_deblur/recipes/cnn-faster-lc-srgb-p256.yaml.
# Usage: bash benchmarks/scripts/make_photos256.sh [SHARED_DATA_DIR] [OUT_DIR]
set -euo pipefail
SRC=${1:-../shared/data/sharp_photos}
OUT=${2:-runs/release/photos256}
for set_dir in "$SRC"/*/; do
  name=$(basename "$set_dir")
  mkdir -p "$OUT/$name"
  for f in "$set_dir"*; do
    [ -f "$f" ] || continue
    case "$name/$(basename "$f")" in skimage/page.png | skimage/text.png) continue ;; esac
    ln -sfn "$(realpath "$f")" "$OUT/$name/$(basename "$f")"
  done
done
echo "linked $(find "$OUT" -type l | wc -l) photos into $OUT"
