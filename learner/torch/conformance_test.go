//go:build torch

package torch

import (
	"testing"

	"github.com/alrl/alrl/learner/conformance"
)

// TestConformance runs the backend conformance suite that the gorgonia
// backend passes too.
func TestConformance(t *testing.T) { conformance.Run(t, New) }
