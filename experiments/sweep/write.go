package sweep

import (
	"encoding/json"

	"github.com/alrl/alrl/internal/atomicfile"
)

func writeFileAtomic(path string, data []byte) error { return atomicfile.WriteBytes(path, data) }

// writeJSONAtomic writes v as indented JSON, as experiments does.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}
