package registry

import (
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[int]("widget", " (import your plugin)")
	r.Register("b", 2)
	r.Register("a", 1)
	r.Register("dup", 3)
	r.Register("dup", 4)
	if got := strings.Join(r.Names(), ","); got != "a,b,dup" {
		t.Fatalf("names %s", got)
	}
	tests := []struct {
		name    string
		want    int
		wantErr string
	}{
		{"a", 1, ""},
		{"b", 2, ""},
		{"c", 0, `unknown widget "c"; registered: a, b, dup (import your plugin)`},
		{"dup", 0, `widget "dup" is registered more than once`},
	}
	for _, tc := range tests {
		v, err := r.Get(tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || v != tc.want {
			t.Errorf("%s: %d %v", tc.name, v, err)
		}
	}
	if _, ok := r.Value("dup"); ok {
		t.Error("Value of a duplicate name is ok")
	}
	var seen []string
	r.Each(func(n string, _ int) { seen = append(seen, n) })
	if strings.Join(seen, ",") != "a,b,dup" {
		t.Fatalf("each %v", seen)
	}
}
