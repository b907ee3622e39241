package gorgonia

import (
	"testing"

	"github.com/alrl/alrl/learner/conformance"
)

// TestConformance runs the backend conformance suite that the torch backend
// passes too.
func TestConformance(t *testing.T) { conformance.Run(t, New) }
