package datasets

import (
	"fmt"
	"os"
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
		{"every label empty", ptr("x1,y\n1,\n2,\n"), "y", []string{`column "y" is empty in every row`, "label some"}},
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

// TestUnlabeledRows: CSV rows with an empty label are Unlabeled; a split
// puts every one of them in the pool and tests only on labeled rows, and a
// data set without unlabeled rows splits as before.
func TestUnlabeledRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := 0; i < 40; i++ {
		label := []string{"a", "b", ""}[i%3]
		fmt.Fprintf(&b, "%d,%s\n", i, label)
	}
	path := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := LoadCSV(path, "y")
	if err != nil {
		t.Fatal(err)
	}
	if d.NumClasses != 2 || d.NumUnlabeled() != 13 || d.Y[2] != Unlabeled || d.Y[0] != 0 || d.Y[1] != 1 {
		t.Fatalf("classes %d, unlabeled %d, y %v", d.NumClasses, d.NumUnlabeled(), d.Y[:3])
	}
	s, err := d.Split(3, SplitConfig{TestSize: 7, ValSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	inPool := map[int]bool{}
	for _, i := range s.Pool {
		inPool[i] = true
	}
	for i, y := range d.Y {
		if y == Unlabeled && !inPool[i] {
			t.Errorf("unlabeled row %d is not in the pool", i)
		}
	}
	for _, i := range append(append([]int(nil), s.Test...), s.Val...) {
		if d.Y[i] == Unlabeled {
			t.Errorf("unlabeled row %d in the test or validation split", i)
		}
	}
	if len(s.Test) != 7 || len(s.Val) != 2 || len(s.Pool) != 40-9 || !slices.IsSorted(s.Pool) {
		t.Fatalf("split sizes %d/%d/%d", len(s.Test), len(s.Val), len(s.Pool))
	}
	// Without unlabeled rows the labeled part alone splits exactly so.
	sub := &Dataset{Name: "sub", Shape: []int{1}, NumClasses: 2}
	for i, y := range d.Y {
		if y != Unlabeled {
			sub.X, sub.Y = append(sub.X, d.X[i]), append(sub.Y, y)
		}
	}
	sub.TrainN = sub.Len()
	ss, err := sub.Split(3, SplitConfig{TestSize: 7, ValSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range ss.Test {
		if sub.X[i] != d.X[s.Test[k]] {
			t.Fatalf("test row %d: %v, alone %v", k, d.X[s.Test[k]], sub.X[i])
		}
	}
	bad := &Dataset{Name: "bad", X: []float32{1, 2}, Y: []int{0, Unlabeled}, Shape: []int{1}, NumClasses: 1, TrainN: 1}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "test file has no label") {
		t.Fatalf("an unlabeled test row: %v", err)
	}
}
