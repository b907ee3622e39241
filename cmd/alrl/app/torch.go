//go:build torch

package app

import _ "github.com/alrl/alrl/learner/torch" // registers the libtorch backend
