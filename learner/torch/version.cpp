//go:build torch

// The libtorch version this package is compiled against, for run provenance.
#include <torch/version.h>

extern "C" const char* alrl_torch_version(void) { return TORCH_VERSION; }
