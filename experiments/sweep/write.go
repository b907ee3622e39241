package sweep

import "github.com/alrl/alrl/internal/atomicfile"

func writeFileAtomic(path string, data []byte) error { return atomicfile.WriteBytes(path, data) }

func writeJSONAtomic(path string, v any) error { return atomicfile.WriteJSON(path, v) }
