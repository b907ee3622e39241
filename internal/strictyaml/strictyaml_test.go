package strictyaml

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type level int

func (l *level) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return fmt.Errorf("unknown level %q", n.Value)
	}
	return nil
}

func (l level) MarshalYAML() (any, error) {
	switch l {
	case 1:
		return "low", nil
	case 2:
		return "high", nil
	}
	return nil, fmt.Errorf("bad level %d", int(l))
}

type optim struct {
	Kind     string  `yaml:"kind"`
	Momentum float64 `yaml:"momentum"`
}

type train struct {
	Epochs  int           `yaml:"epochs"`
	LR      float64       `yaml:"lr"`
	Batch   uint16        `yaml:"batch,omitempty"`
	Timeout time.Duration `yaml:"timeout"`
	Seeds   []int         `yaml:"seeds"`
	Optim   *optim        `yaml:"optim"`
	Verbose *bool         `yaml:"verbose"`
}

type strategy struct {
	Name    string         `yaml:"name"`
	Options map[string]any `yaml:"options"`
}

type run struct {
	Name  string `yaml:"name"`
	Steps int64  `yaml:"steps"`
}

type suite struct {
	Runs []run `yaml:"runs"`
}

type common struct {
	Name string   `yaml:"name"`
	Tags []string `yaml:"tags"`
}

type config struct {
	common     `yaml:",inline"`
	Train      train          `yaml:"train"`
	Strategies []strategy     `yaml:"strategies"`
	Suite      suite          `yaml:"suite"`
	Plugins    map[string]any `yaml:"plugins"`
	Extra      any            `yaml:"extra"`
	Limits     map[string]int `yaml:"limits"`
	Level      level          `yaml:"level"`
	Notes      string         // no tag: ignored
	Skipped    int            `yaml:"-"`
}

func defaults() config {
	return config{
		common: common{Name: "exp", Tags: []string{"base"}},
		Train: train{
			Epochs: 10, LR: 0.1, Batch: 32, Timeout: time.Minute,
			Seeds: []int{1, 2, 3}, Optim: &optim{Kind: "sgd", Momentum: 0.9},
		},
		Strategies: []strategy{{Name: "random"}},
		Limits:     map[string]int{"gpu": 1, "cpu": 4},
		Level:      1,
	}
}

func load(t *testing.T, src string, overrides ...string) (config, error) {
	t.Helper()
	doc, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, o := range overrides {
		if err := Set(doc, o); err != nil {
			t.Fatalf("Set(%q): %v", o, err)
		}
	}
	cfg := defaults()
	err = Decode(doc, &cfg)
	return cfg, err
}

func mustLoad(t *testing.T, src string, overrides ...string) config {
	t.Helper()
	cfg, err := load(t, src, overrides...)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return cfg
}

func TestDefaultsKept(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "{}\n", "train:\n", "train: {}\n", "name: ~\ntrain:\n  epochs: null\n"} {
		cfg := mustLoad(t, src)
		if !reflect.DeepEqual(cfg, defaults()) {
			t.Errorf("source %q: got %+v, want defaults %+v", src, cfg, defaults())
		}
	}
}

func TestDefaultsNotMutated(t *testing.T) {
	d := defaults()
	shared := d.Train.Optim
	limits := d.Limits
	doc, err := Parse("t.yaml", []byte("train:\n  optim:\n    kind: adam\nlimits:\n  gpu: 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Decode(doc, &d); err != nil {
		t.Fatal(err)
	}
	if shared.Kind != "sgd" || limits["gpu"] != 1 {
		t.Errorf("defaults reachable through pointers/maps were modified: %+v %v", shared, limits)
	}
	if d.Train.Optim.Kind != "adam" || d.Train.Optim.Momentum != 0.9 || d.Limits["gpu"] != 8 || d.Limits["cpu"] != 4 {
		t.Errorf("unexpected result %+v %v", d.Train.Optim, d.Limits)
	}
}

func TestNestedOverrides(t *testing.T) {
	src := `
name: run1
tags: [a, b]
train:
  epochs: 20
  lr: 3          # integer accepted for a float
  timeout: 1h30m
  seeds: []
  verbose: true
  optim:
    momentum: 0.5
strategies:
  - name: margin
    options: {k: 5}
  - name: entropy
limits:
  gpu: 2
level: high
`
	cfg := mustLoad(t, src)
	want := defaults()
	want.Name = "run1"
	want.Tags = []string{"a", "b"}
	want.Train.Epochs = 20
	want.Train.LR = 3
	want.Train.Timeout = 90 * time.Minute
	want.Train.Seeds = []int{}
	verbose := true
	want.Train.Verbose = &verbose
	want.Train.Optim = &optim{Kind: "sgd", Momentum: 0.5}
	want.Strategies = []strategy{{Name: "margin", Options: map[string]any{"k": 5}}, {Name: "entropy"}}
	want.Limits = map[string]int{"gpu": 2, "cpu": 4}
	want.Level = 2
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestUnknownKeyDepth2(t *testing.T) {
	src := "train:\n  epochs: 3\n  optim:\n    kind: adam\n    momentm: 0.8\n"
	_, err := load(t, src)
	want := "train.optim.momentm: unknown key (line 5); known keys: kind, momentum"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "train.optim.momentm" || fe.Line != 5 {
		t.Errorf("errors.As: %+v", fe)
	}

	_, err = load(t, "strategies:\n  - name: a\n  - nmae: b\n")
	want = "strategies[1].nmae: unknown key (line 3); known keys: name, options"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}

	// Untagged and "-" fields are not keys; inline fields are.
	_, err = load(t, "notes: x\nskipped: 1\n")
	if err == nil || !strings.Contains(err.Error(), "notes: unknown key (line 1); known keys: extra, level, limits, name, plugins, strategies, suite, tags, train") ||
		!strings.Contains(err.Error(), "skipped: unknown key (line 2)") {
		t.Errorf("got %v", err)
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"string for int", "train:\n  epochs: ten\n", `train.epochs: expected an integer, got "ten" (line 2)`},
		{"quoted number for int", "train:\n  epochs: \"3\"\n", `train.epochs: expected an integer, got "3" (line 2)`},
		{"float for int", "train:\n  epochs: 1.5\n", `train.epochs: expected an integer, got 1.5 (line 2)`},
		{"map for scalar", "train:\n  epochs: {a: 1}\n", `train.epochs: expected an integer, got a mapping (line 2)`},
		{"seq for string", "name: [x]\n", `name: expected a string, got a sequence (line 1)`},
		{"scalar for slice", "train:\n  seeds: 3\n", `train.seeds: expected a sequence, got 3 (line 2)`},
		{"scalar for []string", "tags: solo\n", `tags: expected a sequence, got "solo" (line 1)`},
		{"scalar for struct", "train: fast\n", `train: expected a mapping, got "fast" (line 1)`},
		{"seq for map", "limits: [1]\n", `limits: expected a mapping, got a sequence (line 1)`},
		{"overflow uint16", "train:\n  batch: 70000\n", `train.batch: 70000 is out of range for uint16 (line 2)`},
		{"negative uint", "train:\n  batch: -1\n", `train.batch: expected a non-negative integer, got -1 (line 2)`},
		{"overflow int64", "suite:\n  runs:\n    - steps: 9223372036854775808\n", `suite.runs[0].steps: 9223372036854775808 is out of range for int64 (line 3)`},
		{"bool", "train:\n  verbose: yes\n", `train.verbose: expected a boolean (true or false), got "yes" (line 2)`},
		{"float", "train:\n  lr: fast\n", `train.lr: expected a number, got "fast" (line 2)`},
		{"duration", "train:\n  timeout: 90\n", `train.timeout: expected a duration such as "90s" or "1h30m", got 90 (a unit is required) (line 2)`},
		{"map value", "limits:\n  gpu: many\n", `limits.gpu: expected an integer, got "many" (line 2)`},
		{"unmarshaler", "level: medium\n", `level: unknown level "medium" (line 1)`},
		{"duplicate", "train:\n  epochs: 1\n  epochs: 2\n", `train.epochs: duplicate key (first defined on line 2) (line 3)`},
		{"duplicate map key", "limits:\n  gpu: 1\n  gpu: 2\n", `limits.gpu: duplicate key (first defined on line 2) (line 3)`},
		{"root not mapping", "- a\n", `expected a mapping, got a sequence (line 1)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.src)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestIntegralFloatAccepted(t *testing.T) {
	cfg := mustLoad(t, "suite:\n  runs:\n    - steps: 1e6\n")
	if cfg.Suite.Runs[0].Steps != 1000000 {
		t.Errorf("steps = %d", cfg.Suite.Runs[0].Steps)
	}
	cfg = mustLoad(t, "train:\n  epochs: 0x10\n  batch: 1_024\n")
	if cfg.Train.Epochs != 16 || cfg.Train.Batch != 1024 {
		t.Errorf("epochs=%d batch=%d", cfg.Train.Epochs, cfg.Train.Batch)
	}
}

func TestMultipleErrorsSortedByLine(t *testing.T) {
	src := `
train:
  epochs: ten
  lr: x
strategies:
  - name: a
    bogus: 1
suite:
  runs:
    - name: r
      steps: 1.5
zzz: 1
`
	_, err := load(t, src, "train.batch=-4")
	if err == nil {
		t.Fatal("expected errors")
	}
	want := []string{
		`train.epochs: expected an integer, got "ten" (line 3)`,
		`train.lr: expected a number, got "x" (line 4)`,
		`strategies[0].bogus: unknown key (line 7); known keys: name, options`,
		`suite.runs[0].steps: expected an integer, got 1.5 (line 11)`,
		`zzz: unknown key (line 12); known keys: extra, level, limits, name, plugins, strategies, suite, tags, train`,
		`train.batch: expected a non-negative integer, got -4 (from command-line override)`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSliceOfStructsPath(t *testing.T) {
	src := "suite:\n  runs:\n    - name: a\n    - name: b\n    - name: c\n      steps: many\n"
	_, err := load(t, src)
	want := `suite.runs[2].steps: expected an integer, got "many" (line 6)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestFreeForm(t *testing.T) {
	src := `
plugins:
  sampler:
    temperature: 0.7
    layers: [64, 32]
    enabled: true
  name: x
extra:
  anything: {nested: [1, two]}
strategies:
  - name: badge
    options:
      k: 3
      weights: {a: 0.5}
`
	cfg := mustLoad(t, src)
	wantPlugins := map[string]any{
		"sampler": map[string]any{"temperature": 0.7, "layers": []any{64, 32}, "enabled": true},
		"name":    "x",
	}
	if !reflect.DeepEqual(cfg.Plugins, wantPlugins) {
		t.Errorf("plugins = %#v", cfg.Plugins)
	}
	wantExtra := map[string]any{"anything": map[string]any{"nested": []any{1, "two"}}}
	if !reflect.DeepEqual(cfg.Extra, wantExtra) {
		t.Errorf("extra = %#v", cfg.Extra)
	}
	wantOpts := map[string]any{"k": 3, "weights": map[string]any{"a": 0.5}}
	if !reflect.DeepEqual(cfg.Strategies[0].Options, wantOpts) {
		t.Errorf("options = %#v", cfg.Strategies[0].Options)
	}
}

func TestAliasesAndMerge(t *testing.T) {
	src := `
suite:
  runs:
    - &base {name: base, steps: 5}
    - *base
    - <<: *base
      name: derived
`
	cfg := mustLoad(t, src)
	want := []run{{"base", 5}, {"base", 5}, {"derived", 5}}
	if !reflect.DeepEqual(cfg.Suite.Runs, want) {
		t.Errorf("runs = %+v", cfg.Suite.Runs)
	}
	// Override through an alias copies it and leaves the anchor alone.
	cfg = mustLoad(t, src, "suite.runs.1.steps=7", "suite.runs.2.steps=9")
	want = []run{{"base", 5}, {"base", 7}, {"derived", 9}}
	if !reflect.DeepEqual(cfg.Suite.Runs, want) {
		t.Errorf("runs after overrides = %+v", cfg.Suite.Runs)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		src  string
		want time.Duration
		err  bool
	}{
		{"90s", 90 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"250ms", 250 * time.Millisecond, false},
		{"0", 0, false},
		{`"2m"`, 2 * time.Minute, false},
		{"ten", 0, true},
		{"1.5", 0, true},
		{"[1s]", 0, true},
	}
	for _, tc := range tests {
		cfg, err := load(t, "train:\n  timeout: "+tc.src+"\n")
		if tc.err {
			if err == nil || !strings.HasPrefix(err.Error(), "train.timeout: expected a duration") {
				t.Errorf("%s: got err %v", tc.src, err)
			}
			continue
		}
		if err != nil || cfg.Train.Timeout != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.src, cfg.Train.Timeout, err, tc.want)
		}
	}
}

func TestSet(t *testing.T) {
	src := "train:\n  epochs: 3\nstrategies:\n  - name: random\n  - name: entropy\n"
	t.Run("typed", func(t *testing.T) {
		cfg, err := load(t, src,
			"train.epochs=7", "train.lr=0.5", "train.verbose=true", "train.seeds=[4, 5]", "train.timeout=2m",
			"train.optim.kind=adam", "strategies.1.name=margin", "strategies.1.options={k: 2, mode: fast}",
			"name = hello world", "tags=[]", "suite.runs=[{name: r, steps: 4}]", "plugins.x.y.z=1")
		if err != nil {
			t.Fatal(err)
		}
		want := defaults()
		want.Train.Epochs = 7
		want.Train.LR = 0.5
		v := true
		want.Train.Verbose = &v
		want.Train.Seeds = []int{4, 5}
		want.Train.Timeout = 2 * time.Minute
		want.Train.Optim = &optim{Kind: "adam", Momentum: 0.9}
		want.Strategies = []strategy{{Name: "random"}, {Name: "margin", Options: map[string]any{"k": 2, "mode": "fast"}}}
		want.Name = "hello world"
		want.Tags = []string{}
		want.Suite.Runs = []run{{"r", 4}}
		want.Plugins = map[string]any{"x": map[string]any{"y": map[string]any{"z": 1}}}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("got  %+v\nwant %+v", cfg, want)
		}
	})
	t.Run("string typed value into int names the path", func(t *testing.T) {
		_, err := load(t, src, "train.epochs=many")
		if err == nil || err.Error() != `train.epochs: expected an integer, got "many" (from command-line override)` {
			t.Errorf("got %v", err)
		}
	})
}

func TestSetEmptyDocumentUnknownNumericKey(t *testing.T) {
	_, err := load(t, "", "train.optim.momentum=0.1", "0=x")
	if err == nil || !strings.Contains(err.Error(), "0: unknown key (from command-line override)") {
		t.Errorf("got %v", err)
	}
}

func TestSetErrors(t *testing.T) {
	src := "name: x\nstrategies:\n  - name: random\n  - name: entropy\n"
	tests := []struct{ assignment, want string }{
		{"train.epochs", `invalid override "train.epochs": expected key.path=value`},
		{"=3", `invalid override "=3": empty key before '='`},
		{" =3", `invalid override " =3": empty key before '='`},
		{"train..epochs=3", `invalid override "train..epochs=3": empty segment in key path "train..epochs"`},
		{"train.=3", `invalid override "train.=3": empty segment in key path "train."`},
		{"strategies.5.name=x", `invalid override "strategies.5.name=x": strategies[5]: index 5 out of range (sequence has 2 items)`},
		{"strategies.-1.name=x", `invalid override "strategies.-1.name=x": strategies is a sequence; expected a non-negative index, got "-1"`},
		{"strategies.first.name=x", `invalid override "strategies.first.name=x": strategies is a sequence; expected a non-negative index, got "first"`},
		{"name.first=x", `invalid override "name.first=x": name is "x", cannot set "first" inside it`},
		{"train.seeds=[1, 2", `invalid override "train.seeds=[1, 2": bad value:`},
	}
	for _, tc := range tests {
		doc, err := Parse("t.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		err = Set(doc, tc.assignment)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Set(%q) = %v\nwant %s", tc.assignment, err, tc.want)
		}
	}
	if err := Set(nil, "a=1"); err == nil {
		t.Error("Set(nil) succeeded")
	}
}

func TestSetValueTypes(t *testing.T) {
	tests := []struct {
		value string
		want  any
	}{
		{"3", 3},
		{"0.5", 0.5},
		{"true", true},
		{"word", "word"},
		{`"3"`, "3"},
		{"[1, 2]", []any{1, 2}},
		{"{a: 1}", map[string]any{"a": 1}},
		{"", ""},
		{"a=b", "a=b"},
	}
	for _, tc := range tests {
		doc, _ := Parse("t.yaml", nil)
		if err := Set(doc, "extra="+tc.value); err != nil {
			t.Fatalf("Set %q: %v", tc.value, err)
		}
		cfg := defaults()
		if err := Decode(doc, &cfg); err != nil {
			t.Fatalf("Decode %q: %v", tc.value, err)
		}
		if !reflect.DeepEqual(cfg.Extra, tc.want) {
			t.Errorf("extra=%s: got %#v, want %#v", tc.value, cfg.Extra, tc.want)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	verbose := false
	cfg := defaults()
	cfg.Name = "round: trip" // needs quoting
	cfg.Tags = []string{"true", "1", "x"}
	cfg.Train.Verbose = &verbose
	cfg.Train.LR = 2 // integral float must stay a float
	cfg.Train.Timeout = 90*time.Second + 5*time.Millisecond
	cfg.Strategies = []strategy{{Name: "margin", Options: map[string]any{"k": 3, "w": 1.5, "l": []any{"a", true}}}, {Name: "entropy"}}
	cfg.Suite.Runs = []run{{"a", 1}, {"b", 1 << 40}}
	cfg.Plugins = map[string]any{"p": map[string]any{"q": "r"}}
	cfg.Extra = []any{1, "two", map[string]any{"three": 3.5}}
	cfg.Limits = map[string]int{"gpu": 2, "cpu": 4} // maps merge over defaults, so keep the default keys
	cfg.Level = 2

	out, err := Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse("encoded.yaml", out)
	if err != nil {
		t.Fatalf("Parse(Encode): %v\n%s", err, out)
	}
	got := defaults()
	if err := Decode(doc, &got); err != nil {
		t.Fatalf("Decode(Encode): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("round trip mismatch\ngot  %+v\nwant %+v\nyaml:\n%s", got, cfg, out)
	}
	s := string(out)
	for _, frag := range []string{"name: 'round: trip'", "timeout: 1m30.005s", "lr: 2.0", "level: high"} {
		if !strings.Contains(s, frag) {
			t.Errorf("output lacks %q:\n%s", frag, s)
		}
	}
	for _, frag := range []string{"notes", "skipped", "common"} {
		if strings.Contains(strings.ToLower(s), frag+":") {
			t.Errorf("output contains %q:\n%s", frag, s)
		}
	}
	// omitempty: a zero batch is left out.
	cfg.Train.Batch = 0
	out, err = Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "batch:") {
		t.Errorf("omitempty field encoded:\n%s", out)
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("exp.yaml", []byte("train:\n  epochs: 3\n lr: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "exp.yaml: line ") {
		t.Errorf("got %v", err)
	}
	_, err = Parse("two.yaml", []byte("a: 1\n---\nb: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "two.yaml: line 2: multiple YAML documents") {
		t.Errorf("got %v", err)
	}
}

func TestDecodeBadTarget(t *testing.T) {
	doc, _ := Parse("t.yaml", []byte("a: 1\n"))
	var cfg config
	if err := Decode(doc, cfg); err == nil {
		t.Error("non-pointer accepted")
	}
	if err := Decode(doc, (*config)(nil)); err == nil {
		t.Error("nil pointer accepted")
	}
	type bad struct {
		C chan int `yaml:"a"`
	}
	var b bad
	if err := Decode(doc, &b); err == nil || !strings.Contains(err.Error(), "unsupported Go type") {
		t.Errorf("got %v", err)
	}
	type dup struct {
		A int `yaml:"a"`
		B int `yaml:"a"`
	}
	var d dup
	if err := Decode(doc, &d); err == nil || !strings.Contains(err.Error(), "duplicate yaml key") {
		t.Errorf("got %v", err)
	}
}

type withInlineMap struct {
	Name string         `yaml:"name"`
	Rest map[string]int `yaml:",inline"`
}

func TestInlineMap(t *testing.T) {
	doc, _ := Parse("t.yaml", []byte("name: n\na: 1\nb: x\n"))
	var v withInlineMap
	err := Decode(doc, &v)
	if err == nil || err.Error() != `b: expected an integer, got "x" (line 3)` {
		t.Errorf("got %v", err)
	}
	if v.Name != "n" || v.Rest["a"] != 1 {
		t.Errorf("got %+v", v)
	}
}
