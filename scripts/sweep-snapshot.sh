#!/usr/bin/env bash
# Usage: scripts/sweep-snapshot.sh SRC DST
#
# Copies what a sweep needs to go on elsewhere from the sweep folder SRC
# (e.g. runs/sweep-inas) to DST (e.g. results/sweep-inas), while the sweep
# keeps running: for every run, its config, provenance, rounds and summary,
# and for an unfinished run its latest checkpoint (state.json and the weights
# it names). Locks are left out; worker logs are left out unless
# SNAPSHOT_LOGS=1. A run's files in DST are replaced as a whole, so DST
# never mixes two moments of one run.
#
# To go on from a snapshot on another machine or in a later session:
#   cp -r DST runs/ && bin/alrl sweep -c <the sweep's config> -j 2
# Finished runs are skipped and unfinished ones resume from their checkpoint
# (the records in state.json, not the copied rounds.jsonl, are what resume
# keeps).
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 SRC DST" >&2
  exit 2
fi
src=${1%/}
dst=${2%/}
if [ ! -f "$src/sweep.yaml" ] || [ ! -d "$src/runs" ]; then
  echo "$src is not a sweep folder (no sweep.yaml or runs/); give the sweep's out" >&2
  exit 1
fi
mkdir -p "$dst/runs"
cp -f "$src/sweep.yaml" "$src/sweep.json" "$dst/" 2>/dev/null || cp -f "$src/sweep.yaml" "$dst/"

finished=0
partial=0
for run in "$src"/runs/*/; do
  run=${run%/}
  name=$(basename "$run")
  [ -f "$run/config.yaml" ] || continue
  tmp=$(mktemp -d "$dst/runs/.$name.XXXXXX")
  ok=1
  if [ -f "$run/summary.json" ]; then
    for f in config.yaml provenance.json rounds.jsonl summary.json; do
      [ -f "$run/$f" ] && cp -p "$run/$f" "$tmp/"
    done
    finished=$((finished + 1))
  elif [ -f "$run/checkpoint/state.json" ]; then
    # The run saves new weights, then state.json, then removes the old
    # weights: copy state.json first and retry if its weights are gone.
    ok=0
    for _ in 1 2 3 4 5; do
      rm -rf "$tmp/checkpoint"
      mkdir -p "$tmp/checkpoint"
      cp -p "$run/checkpoint/state.json" "$tmp/checkpoint/" || break
      w=$(sed -n 's/^  "weights": "\(weights-[0-9]*\.bin\)",$/\1/p' "$tmp/checkpoint/state.json")
      if [ -n "$w" ] && cp -p "$run/checkpoint/$w" "$tmp/checkpoint/" 2>/dev/null; then
        for side in "$run/checkpoint/$w".*; do
          [ -e "$side" ] && cp -p "$side" "$tmp/checkpoint/"
        done
        ok=1
        break
      fi
      sleep 2
    done
    for f in config.yaml provenance.json rounds.jsonl; do
      [ -f "$run/$f" ] && cp -p "$run/$f" "$tmp/"
    done
    [ "$ok" = 1 ] && partial=$((partial + 1))
  else
    cp -p "$run/config.yaml" "$tmp/"
  fi
  if [ "${SNAPSHOT_LOGS:-0}" = 1 ] && [ -f "$run/worker.log" ]; then
    cp -p "$run/worker.log" "$tmp/"
  fi
  if [ "$ok" != 1 ]; then
    echo "$name: its checkpoint changed under every copy; left out of this snapshot" >&2
    rm -rf "$tmp"
    continue
  fi
  rm -rf "$dst/runs/$name"
  mv "$tmp" "$dst/runs/$name"
done
echo "snapshot of $src in $dst: $finished finished runs, $partial with a checkpoint"
