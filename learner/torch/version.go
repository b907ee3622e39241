//go:build torch

package torch

/*
const char* alrl_torch_version(void);
*/
import "C"

import "github.com/alrl/alrl/learner"

// Version returns the libtorch version the binary was compiled against
// (TORCH_VERSION from torch/version.h).
func Version() string { return C.GoString(C.alrl_torch_version()) }

func init() { learner.RegisterInfo("libtorch", Version()) }
