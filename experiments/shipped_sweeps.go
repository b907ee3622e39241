package experiments

import (
	"embed"
	"strings"
)

//go:embed configs/sweeps/*.yaml
var shippedSweeps embed.FS

// ShippedSweeps returns the names of the sweep files embedded in the binary.
func ShippedSweeps() []string {
	ents, _ := shippedSweeps.ReadDir("configs/sweeps")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return out
}

// ShippedSweep returns the text of the shipped sweep file NAME.
func ShippedSweep(name string) ([]byte, error) {
	return shippedSweeps.ReadFile("configs/sweeps/" + name + ".yaml")
}
