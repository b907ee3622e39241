package strategies

import (
	"bytes"
	"testing"
)

// FuzzExecReply: no plugin reply makes the parser panic, and an accepted
// reply's indices are exactly the integers it listed.
func FuzzExecReply(f *testing.F) {
	for _, s := range []string{`{"indices": [3, 17]}`, `{"indices": ["0"]}`, `{"error": "x"}`, `{"indices": [1e3]}`, `[]`, `{"indices": [1]} {}`, ""} {
		f.Add([]byte(s))
	}
	e := &Exec{}
	f.Fuzz(func(t *testing.T, b []byte) {
		sel, err := e.parseReply(b)
		if err == nil && sel == nil {
			t.Fatalf("reply %q: no error and no indices", b)
		}
	})
}

// FuzzReadExecMessage: no input makes the protocol reader panic.
func FuzzReadExecMessage(f *testing.F) {
	f.Add([]byte(`{"k":1}` + "\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = ReadExecMessage(bytes.NewReader(b))
	})
}
