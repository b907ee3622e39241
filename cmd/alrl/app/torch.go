//go:build torch

package app

import (
	_ "github.com/alrl/alrl/agents/torchnet" // registers the agents' libtorch network backend
	_ "github.com/alrl/alrl/learner/torch"   // registers the libtorch backend
)
