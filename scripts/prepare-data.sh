#!/usr/bin/env bash
# Makes the default dataset: three Fashion-MNIST classes (t-shirt/top, trouser, pullover), 500
# images each, as an ImageFolder tree in data/fashion-mnist-3 (git-ignored). Skips the work when
# the folder is already complete.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/fashion-mnist-3
per_class=500
if [[ -d $out ]] && [[ $(find "$out" -name '*.png' | wc -l) -eq $((3 * per_class)) ]]; then
  echo "prepare-data: $out is ready"
  exit 0
fi
rm -rf "$out"
./build/bin/idx_to_imagefolder --out "$out" --classes 0,1,2 --per-class "$per_class"
