#!/usr/bin/env bash
# Issue #6's comparison: Active-iNAS against the smallest fixed architecture
# (1x1), the largest one the search may reach (3x3) and the foundation's CNN,
# on MNIST and Fashion-MNIST, least confidence and entropy, 3 seeds, up to
# 1,000 labels. Every variant runs the same seeds, splits and initial sets.
#
# Usage: scripts/inas-compare.sh [OUT_ROOT] [extra alrl train flags...]
#   e.g. scripts/inas-compare.sh runs/inas --set learner.device=cuda
# Interrupted runs continue where they stopped (--resume). Each variant's
# folder gets summary.md / summary.csv (final accuracy and AULC per strategy),
# and every round's architecture is the "info.arch" field of rounds.jsonl.
set -euo pipefail
root=${1:-runs/inas}
shift || true
bin=${ALRL:-bin/alrl}
[ -x "$bin" ] || make build
for data in mnist fashion-mnist; do
  cfg=builtin:inas-$data
  "$bin" train -c "$cfg" --out "$root/$data/inas" --resume "$@"
  "$bin" train -c "$cfg" --out "$root/$data/fixed-1x1" --resume --set nas.search=false "$@"
  "$bin" train -c "$cfg" --out "$root/$data/fixed-3x3" --resume --set nas.search=false --set nas.stacks=3 --set nas.blocks=3 "$@"
  "$bin" train -c "$cfg" --out "$root/$data/cnn" --resume --set nas.enabled=false "$@"
done
for f in "$root"/*/*/summary.md; do
  echo "== $f"
  cat "$f"
done
