#!/usr/bin/env bash
# Usage (from any directory):   source scripts/torch-env.sh
#   or, without sourcing:        eval "$(scripts/torch-env.sh)"
#
# Sourced, it exports the cgo settings that build gotch v0.7.0 against Debian's
# libtorch (see torchcompat/compat.h and scripts/cuda-stubs.sh). Executed, it
# prints the same settings as `export` lines. It does not build the CUDA stubs;
# run `bash scripts/cuda-stubs.sh .build/cudastubs` (or `make cudastubs`) first.
# Keep the values in sync with mk/torch.mk: the Go build cache keys on them.

_torch_env_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)

_torch_env_cxxflags="-include $_torch_env_root/torchcompat/compat.h -I/usr/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1 -O2 -Wno-deprecated-declarations"
_torch_env_ldflags="-L$_torch_env_root/.build/cudastubs -L/usr/lib/x86_64-linux-gnu -Wl,--as-needed"

if [ "${BASH_SOURCE[0]:-$0}" != "$0" ]; then
  # Sourced.
  export CGO_ENABLED=1
  export CGO_CXXFLAGS="$_torch_env_cxxflags"
  export CGO_LDFLAGS="$_torch_env_ldflags"
else
  # Executed: print for eval.
  printf 'export CGO_ENABLED=1\n'
  printf 'export CGO_CXXFLAGS=%q\n' "$_torch_env_cxxflags"
  printf 'export CGO_LDFLAGS=%q\n' "$_torch_env_ldflags"
fi
unset _torch_env_root _torch_env_cxxflags _torch_env_ldflags
