package strictyaml

import "testing"

type fuzzTarget struct {
	Name  string                  `yaml:"name"`
	Seeds []uint64                `yaml:"seeds"`
	AL    struct{ K, Budget int } `yaml:"al"`
	Opts  map[string]any          `yaml:"opts"`
	Ptr   *struct{ X float64 }    `yaml:"ptr"`
	List  []struct{ Name string } `yaml:"list"`
}

// FuzzParseSetDecode: no document or --set assignment makes the strict
// decoder panic or hang.
func FuzzParseSetDecode(f *testing.F) {
	f.Add([]byte("name: x\nseeds: [1, 2]\nal: {k: 3, budget: 50}\n"), "al.k=5")
	f.Add([]byte("list: [{name: a}]\nptr: {x: 1.5}\n"), "list.0.name=b")
	f.Add([]byte("a: &x [*x]\n"), "seeds=[1,2]")
	f.Add([]byte(": :\n- [\n"), "=")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		doc, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		_ = Set(doc, set)
		var out fuzzTarget
		_ = Decode(doc, &out)
	})
}
