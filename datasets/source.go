package datasets

import (
	"fmt"
	"slices"
	"strings"
)

// Source describes where a data set comes from; it is embedded in experiment configs.
type Source struct {
	Name        string  `yaml:"name"`                // mnist | fashion-mnist | csv | blobs | moons | sklearn | imagefolder | npy
	Set         string  `yaml:"set,omitempty"`       // sklearn: iris | wine | breast_cancer | digits
	TestDir     string  `yaml:"test_dir,omitempty"`  // imagefolder: optional folder of test images (same class folders)
	Size        []int   `yaml:"size,omitempty"`      // imagefolder: [height, width] to resize to
	Channels    int     `yaml:"channels,omitempty"`  // imagefolder: 1 or 3 (0 = 1 when every image is grey)
	Unlabeled   string  `yaml:"unlabeled,omitempty"` // imagefolder: a folder of images without a class, for a person to label
	Labels      string  `yaml:"labels,omitempty"`    // npy: the .npy file of labels beside path's features
	XKey        string  `yaml:"x_key,omitempty"`     // npz: the features' array [x]
	YKey        string  `yaml:"y_key,omitempty"`     // npz: the labels' array [y]
	Shape       []int   `yaml:"shape,omitempty"`     // csv, npy, sklearn: reshape each row, e.g. [1, 28, 28] for flattened images
	Dir         string  `yaml:"dir"`                 // override folder for mnist / fashion-mnist
	Path        string  `yaml:"path"`                // csv file
	LabelColumn string  `yaml:"label_column"`        // csv
	N           int     `yaml:"n"`                   // synthetic sample count
	Classes     int     `yaml:"classes"`             // blobs
	Dim         int     `yaml:"dim"`                 // blobs
	Noise       float64 `yaml:"noise"`               // blobs std / moons noise
}

// Defaults used by Load when the corresponding Source field is zero or empty.
const (
	// DefaultN is the synthetic sample count.
	DefaultN = 1000
	// DefaultClasses is the number of blobs.
	DefaultClasses = 3
	// DefaultDim is the blobs dimension.
	DefaultDim = 2
	// DefaultBlobsNoise is the blobs standard deviation.
	DefaultBlobsNoise = 1.0
	// DefaultMoonsNoise is the moons noise standard deviation.
	DefaultMoonsNoise = 0.1
	// DefaultLabelCol is the CSV label column name.
	DefaultLabelCol = "label"
)

// Names returns the supported data set names.
func Names() []string {
	return []string{"mnist", "fashion-mnist", "csv", "blobs", "moons", "sklearn", "imagefolder", "npy"}
}

// Load builds the data set described by s; dataDir is the CLI folder override ("" for none, it wins over s.Dir) and seed drives synthetic generation.
//
// For mnist and fashion-mnist the folder is dataDir, else s.Dir, else
// $ALRL_DATA_DIR, else the default (see Locate). For csv, an empty
// LabelColumn means "label". Zero synthetic fields take the Default* values.
func Load(s Source, dataDir string, seed uint64) (*Dataset, error) {
	name := strings.ToLower(strings.TrimSpace(s.Name))
	var (
		d   *Dataset
		err error
	)
	switch name {
	case "mnist", "fashion-mnist":
		explicit := dataDir
		if explicit == "" {
			explicit = s.Dir
		}
		var dir string
		if dir, err = Locate(name, explicit); err != nil {
			return nil, err
		}
		d, err = LoadMNISTDir(name, dir)
	case "csv":
		if s.Path == "" {
			return nil, fmt.Errorf("datasets: source csv needs a path")
		}
		col := s.LabelColumn
		if col == "" {
			col = DefaultLabelCol
		}
		d, err = LoadCSV(s.Path, col)
	case "sklearn":
		dir := dataDir
		if dir == "" {
			dir = s.Dir
		}
		d, err = LoadSklearn(s.Set, dir)
	case "npy":
		if s.Path == "" {
			return nil, fmt.Errorf("datasets: npy needs data.path (a .npz, or a .npy of features with data.labels)")
		}
		d, err = LoadNpy(s.Path, s.Labels, s.XKey, s.YKey)
	case "imagefolder":
		dir := dataDir
		if dir == "" {
			dir = s.Dir
		}
		d, err = LoadImageFolder(ImageFolder{Dir: dir, TestDir: s.TestDir, Size: s.Size, Channels: s.Channels, Unlabel: s.Unlabeled})
	case "blobs":
		d, err = Blobs(orInt(s.N, DefaultN), orInt(s.Classes, DefaultClasses), orInt(s.Dim, DefaultDim), orFloat(s.Noise, DefaultBlobsNoise), seed)
	case "moons":
		d, err = Moons(orInt(s.N, DefaultN), orFloat(s.Noise, DefaultMoonsNoise), seed)
	default:
		return nil, fmt.Errorf("datasets: unknown data set %q; supported: %s", s.Name, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, err
	}
	if len(s.Shape) > 0 {
		if name != "csv" && name != "npy" && name != "sklearn" {
			return nil, fmt.Errorf("datasets: data.shape reshapes csv, npy and sklearn rows; %s has its own shape %v", name, d.Shape)
		}
		if p := shapeProduct(s.Shape); p != d.Dim() || slices.ContainsFunc(s.Shape, func(v int) bool { return v < 1 }) {
			return nil, fmt.Errorf("datasets: data.shape %v holds %d values, but each row of %s has %d; give a shape whose product is %d (e.g. [1, 28, 28] for 784)", s.Shape, p, d.Name, d.Dim(), d.Dim())
		}
		d.Shape = append([]int(nil), s.Shape...)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("datasets: loaded %s is inconsistent: %w", name, err)
	}
	return d, nil
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}
