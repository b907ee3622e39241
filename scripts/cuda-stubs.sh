#!/usr/bin/env bash
# Usage: scripts/cuda-stubs.sh DIR
#
# gotch v0.7.0 (libtch/lib.go) hard-codes CUDA link flags (-lcuda -lcudart
# ... -ltorch_cuda). On a CPU-only machine with Debian's libtorch those
# libraries do not exist, so we build empty shared libraries with those names
# into DIR and link with -L DIR -Wl,--as-needed: the linker accepts the flags
# and, since nothing is used from them, the binary does not need them at run
# time. Idempotent: existing stubs are left alone.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
cc=${CC:-gcc}

for name in cuda cudart cublas cudnn caffe2_nvrtc nvrtc-builtins nvrtc nvToolsExt c10_cuda torch_cuda; do
  lib="$dir/lib$name.so"
  if [ -e "$lib" ]; then
    continue
  fi
  "$cc" -shared -o "$lib.tmp.$$" -x c /dev/null
  mv -f "$lib.tmp.$$" "$lib"
done
