//go:build torch

// Package torch holds the learners' libtorch back end (gotch v0.7.0). It is
// built only with the "torch" build tag; see scripts/torch-env.sh for the cgo
// settings it needs.
package torch

// The functions below are defined in gotch's C library (libtch/torch_api.cpp)
// but gotch v0.7.0 has no Go wrappers for them; they resolve at link time
// against the libtch package imported below.

/*
#include <stdint.h>

void at_manual_seed(int64_t seed);
void at_set_num_threads(int n_threads);
int at_get_num_threads();
*/
import "C"

import (
	_ "github.com/sugarme/gotch/libtch" // defines the at_* symbols declared above
)

// ManualSeed seeds libtorch's default random generators (CPU and, if present, CUDA).
func ManualSeed(seed int64) { C.at_manual_seed(C.int64_t(seed)) }

// SetNumThreads sets the number of threads libtorch uses for intra-op parallelism.
func SetNumThreads(n int) { C.at_set_num_threads(C.int(n)) }

// NumThreads returns the number of threads libtorch uses for intra-op parallelism.
func NumThreads() int { return int(C.at_get_num_threads()) }
