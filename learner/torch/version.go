//go:build torch

package torch

/*
#include <stdlib.h>
const char* alrl_torch_version(void);
char* alrl_torch_numerics(void);
void alrl_torch_deterministic(int on);
*/
import "C"

import (
	"strings"
	"unsafe"

	"github.com/alrl/alrl/learner"
)

// The backend asks libtorch for deterministic algorithms in every process
// (at::Context::setDeterministicAlgorithms, warn-only): on CPU it changes
// none of the kernels alrl uses, and it keeps a later CUDA run from picking
// nondeterministic ones; provenance records it.
func init() { C.alrl_torch_deterministic(1) }

// Version returns the libtorch version the binary was compiled against
// (TORCH_VERSION from torch/version.h).
func Version() string { return C.GoString(C.alrl_torch_version()) }

// Numerics returns what libtorch reports about the kernels and libraries
// that decide its floating-point results on this machine: the CPU
// capability it dispatches to, MKL / oneDNN / OpenMP versions, the ISA
// oneDNN's kernels use, the core OpenBLAS chose, the parallel backend and
// whether deterministic algorithms are on.
func Numerics() map[string]string {
	p := C.alrl_torch_numerics()
	if p == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(p))
	out := map[string]string{}
	for _, line := range strings.Split(C.GoString(p), "\n") {
		line = strings.TrimSpace(line)
		lower := strings.ToLower(line)
		value := func() string {
			_, v, _ := strings.Cut(line, ":")
			return strings.TrimSpace(v)
		}
		switch {
		case strings.HasPrefix(lower, "dnnl effective isa"):
			out["onednn effective isa (dnnl_cpu_isa_t)"] = value()
		case strings.HasPrefix(lower, "openblas core"):
			out["openblas core"] = value()
		case strings.HasPrefix(lower, "openblas config"):
			out["openblas config"] = value()
		case strings.HasPrefix(lower, "cpu capability usage"):
			out["libtorch cpu capability"] = value()
		case strings.Contains(lower, "mkl-dnn") || strings.Contains(lower, "onednn"):
			out["libtorch onednn"] = line
		case strings.Contains(lower, "math kernel library") || strings.HasPrefix(lower, "intel(r) mkl"):
			out["libtorch mkl"] = line
		case strings.HasPrefix(lower, "openmp "):
			out["libtorch openmp"] = line
		case strings.HasPrefix(lower, "aten parallel backend"):
			out["libtorch parallel backend"] = value()
		case strings.HasPrefix(lower, "omp_num_threads"), strings.HasPrefix(lower, "mkl_num_threads"):
			k, _, _ := strings.Cut(lower, ":")
			out["libtorch "+strings.TrimSpace(k)] = value()
		case strings.HasPrefix(lower, "deterministic algorithms"):
			out["libtorch deterministic algorithms"] = value()
		}
	}
	return out
}

func init() {
	learner.RegisterInfo("libtorch", Version())
	for k, v := range Numerics() {
		learner.RegisterInfo(k, v)
	}
}
