package datasets

import (
	"compress/gzip"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTaskIsDeterministicAndShaped(t *testing.T) {
	s := TaskSpec{N: 2000, Classes: 4, Dim: 6, Informative: 3, Clusters: 2, Spread: 0.5, Imbalance: 8, LabelNoise: 0}
	a, err := Task(s, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Task(s, 7)
	c, _ := Task(s, 8)
	if a.Len() != 2000 || a.Dim() != 6 || a.NumClasses != 4 {
		t.Fatalf("task has %d rows, %d dims, %d classes", a.Len(), a.Dim(), a.NumClasses)
	}
	same := true
	for i := range a.X {
		if a.X[i] != b.X[i] {
			same = false
		}
	}
	if !same || a.X[0] == c.X[0] {
		t.Fatal("the task is not a function of its seed")
	}
	counts := make([]int, 4)
	for _, y := range a.Y {
		counts[y]++
	}
	// Priors fall by 8 from the first class to the last.
	if r := float64(counts[0]) / float64(counts[3]); r < 5 || r > 12 {
		t.Errorf("class counts %v: ratio %.1f, want about 8", counts, r)
	}
	// Standardised columns.
	for j := 0; j < 6; j++ {
		m := 0.0
		for i := 0; i < a.Len(); i++ {
			m += float64(a.X[i*6+j])
		}
		if math.Abs(m/float64(a.Len())) > 1e-4 {
			t.Errorf("column %d has mean %g", j, m/float64(a.Len()))
		}
	}
	// Label noise flips about its share of labels (compare with the clean task).
	s.LabelNoise = 0.5
	n, _ := Task(s, 7)
	diff := 0
	for i := range n.Y {
		if n.Y[i] != a.Y[i] {
			diff++
		}
	}
	if f := float64(diff) / 2000; f < 0.3 || f > 0.45 { // 0.5 x (1 - 1/4) expected
		t.Errorf("label noise 0.5 changed %.2f of the labels, want about 0.375", f)
	}
}

func TestTaskRejectsBadSpecs(t *testing.T) {
	ok := TaskSpec{N: 100, Classes: 3, Dim: 4, Informative: 2, Clusters: 1, Spread: 1, Imbalance: 1}
	for name, mut := range map[string]func(*TaskSpec){
		"classes":     func(s *TaskSpec) { s.Classes = 1 },
		"informative": func(s *TaskSpec) { s.Informative = 5 },
		"spread":      func(s *TaskSpec) { s.Spread = 0 },
		"imbalance":   func(s *TaskSpec) { s.Imbalance = 0.5 },
		"noise":       func(s *TaskSpec) { s.LabelNoise = 1 },
		"n":           func(s *TaskSpec) { s.N = 5 },
	} {
		s := ok
		mut(&s)
		if _, err := Task(s, 1); err == nil {
			t.Errorf("%s: accepted %+v", name, s)
		}
	}
	r := DefaultTaskRanges()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		s := r.Draw(rng)
		if err := s.Validate(); err != nil {
			t.Fatalf("draw %d: %v", i, err)
		}
	}
	r.Classes = [2]int{5, 3}
	if err := r.Validate(); err == nil {
		t.Error("an unordered range was accepted")
	}
}

func TestLoadSklearnFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("wine_data.csv", "4,2,class_0,class_1,class_2\n1,2,0\n3,4,1\n5,6,2\n7,8,1\n")
	d, err := LoadSklearn("wine", dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || d.Dim() != 2 || d.NumClasses != 3 || d.Y[3] != 1 || len(d.ClassNames) != 3 {
		t.Fatalf("wine: %d rows, %d dims, %d classes, labels %v", d.Len(), d.Dim(), d.NumClasses, d.Y)
	}
	// Column 0 (1, 3, 5, 7) standardised: mean 4, sd sqrt(5).
	if math.Abs(float64(d.X[0])+3/math.Sqrt(5)) > 1e-6 {
		t.Errorf("x[0][0] = %v, want %v", d.X[0], -3/math.Sqrt(5))
	}
	f, err := os.Create(filepath.Join(dir, "digits.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	gz.Write([]byte("0,16,0\n4,8,1\n"))
	gz.Close()
	f.Close()
	if d, err = LoadSklearn("digits", dir); err != nil || d.Len() != 2 || d.Dim() != 2 {
		t.Fatalf("digits: %v, %+v", err, d)
	}
	for name, body := range map[string]string{
		"truncated":    "5,2,a,b\n1,2,0\n3,4,1\n",
		"single class": "2,2,a,b\n1,2,0\n3,4,0\n",
		"not a number": "2,2,a,b\n1,x,0\n3,4,1\n",
		"columns":      "2,2,a,b\n1,2,3,0\n3,4,1\n",
		"header":       "hello\n1,2,0\n",
	} {
		write("iris.csv", body)
		if _, err := LoadSklearn("iris", dir); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadSklearn("boston", dir); err == nil || !strings.Contains(err.Error(), "not one of") {
		t.Errorf("unknown set: %v", err)
	}
	if _, err := LoadSklearn("breast_cancer", dir); err == nil {
		t.Error("a missing file was accepted")
	}
}
