package datasets

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadCSV(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "iris.csv"), []byte(
		"a,species,\"b, quoted\"\n"+
			"1.5,virginica,2\n"+
			"-3,\"setosa\",4e1\n"+
			" 0.25 , versicolor, 7\n"+
			"1,setosa,0\n"))
	d, err := LoadCSV(p, "species")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "iris" || d.Len() != 4 || d.Dim() != 2 || !slices.Equal(d.Shape, []int{2}) || d.TrainN != 4 {
		t.Errorf("name=%q N=%d dim=%d shape=%v TrainN=%d", d.Name, d.Len(), d.Dim(), d.Shape, d.TrainN)
	}
	if want := []string{"setosa", "versicolor", "virginica"}; !slices.Equal(d.ClassNames, want) || d.NumClasses != 3 {
		t.Errorf("classes %v (%d), want %v", d.ClassNames, d.NumClasses, want)
	}
	if want := []int{2, 0, 1, 0}; !slices.Equal(d.Y, want) {
		t.Errorf("labels %v, want %v", d.Y, want)
	}
	if want := []float32{1.5, 2, -3, 40, 0.25, 7, 1, 0}; !slices.Equal(d.X, want) {
		t.Errorf("X %v, want %v", d.X, want)
	}
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
}

func TestLoadCSVErrors(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: file not created
		label   string
		phrases []string
	}{
		{"missing file", nil, "y", []string{"file not found"}},
		{"empty file", ptr(""), "y", []string{"empty file"}},
		{"header only", ptr("x,y\n"), "y", []string{"no data rows"}},
		{"missing label column", ptr("x1,x2,class\n1,2,a\n"), "label", []string{`label column "label" not found`, `"x1", "x2", "class"`}},
		{"bad value", ptr("x1,x2,y\n1,2,a\n3,oops,b\n"), "y", []string{"line 3", `column "x2"`, `"oops"`}},
		{"nan value", ptr("x1,y\nNaN,a\n"), "y", []string{"line 2", `column "x1"`, "NaN"}},
		{"ragged row", ptr("x1,x2,y\n1,2,a\n3,b\n"), "y", []string{"line 3", "wrong number of fields"}},
		{"empty label", ptr("x1,y\n1,\n"), "y", []string{"line 2", "empty label"}},
		{"label only", ptr("y\na\n"), "y", []string{"no feature columns"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "data.csv")
			if tc.content != nil {
				writeFile(t, p, []byte(*tc.content))
			}
			_, err := LoadCSV(p, tc.label)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, ph := range append(tc.phrases, p) {
				if !strings.Contains(msg, ph) {
					t.Errorf("error %q lacks %q", msg, ph)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
