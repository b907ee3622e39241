# mk/torch.mk: cgo settings for building gotch v0.7.0 against Debian's
# libtorch 1.13.1 (CPU). Include from the top-level Makefile:
#     include mk/torch.mk
# Same values as scripts/torch-env.sh (keep them in sync: the Go build cache
# keys on them, so differing flags mean a second ~100 s build of libtch).
#   - torchcompat/compat.h is force-included into every cgo C++ compile and
#     papers over the ATen API changes between libtorch 1.11 and 1.13.
#   - .build/cudastubs holds empty stand-ins for the CUDA libraries that
#     gotch's libtch/lib.go links; --as-needed drops them from the binary.

TORCH_CUDASTUBS    := $(CURDIR)/.build/cudastubs
TORCH_CGO_CXXFLAGS := -include $(CURDIR)/torchcompat/compat.h -I/usr/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1 -O2 -Wno-deprecated-declarations
TORCH_CGO_LDFLAGS  := -L$(TORCH_CUDASTUBS) -L/usr/lib/x86_64-linux-gnu -Wl,--as-needed

export CGO_ENABLED  := 1
export CGO_CXXFLAGS := $(TORCH_CGO_CXXFLAGS)
export CGO_LDFLAGS  := $(TORCH_CGO_LDFLAGS)

.PHONY: cudastubs
cudastubs:
	bash $(CURDIR)/scripts/cuda-stubs.sh $(TORCH_CUDASTUBS)
