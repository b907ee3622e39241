package learner

import (
	"maps"
	"sync"
)

var (
	infoMu sync.RWMutex
	info   = map[string]string{}
)

// RegisterInfo records a runtime version a backend links against (for
// example "libtorch" -> "1.13.0"), so that runs can record what produced them.
// Backends call it from init.
func RegisterInfo(key, value string) {
	infoMu.Lock()
	defer infoMu.Unlock()
	info[key] = value
}

// Info returns a copy of the registered runtime versions.
func Info() map[string]string {
	infoMu.RLock()
	defer infoMu.RUnlock()
	return maps.Clone(info)
}
