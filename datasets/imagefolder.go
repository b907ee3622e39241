package datasets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	_ "image/gif" // decoders register themselves
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/alrl/alrl/internal/atomicfile"
)

// ImageFolder describes a folder of labeled images: one subfolder per
// class, named by the class, holding PNG, JPEG or GIF files; and optionally
// a folder of images without a class.
type ImageFolder struct {
	Dir      string // the class folders
	TestDir  string // optional: a second folder of the same classes, the test file
	Size     []int  // [height, width] to resize every image to (bilinear); empty = keep, all images must then share one size
	Channels int    // 1 (grey) or 3 (RGB); 0 = 1 when every image is grey, else 3
	Unlabel  string // optional: a folder of images without a class (rows Unlabeled, for a person to label); inside Dir it is not a class
	Cache    string // folder for the decoded tensor file ("" = the user cache folder; "off" = no cache)
}

var imageExts = []string{".png", ".jpg", ".jpeg", ".gif"}

type imageFile struct {
	path  string
	class int
	size  int64
	mtime int64
}

// imagesIn lists the image files directly in dir, all of class class.
func imagesIn(dir string, class int) ([]imageFile, error) {
	imgs, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("datasets: imagefolder: %w", err)
	}
	var files []imageFile
	for _, f := range imgs {
		if f.IsDir() || !slices.Contains(imageExts, strings.ToLower(filepath.Ext(f.Name()))) {
			continue
		}
		info, err := f.Info()
		if err != nil {
			return nil, fmt.Errorf("datasets: imagefolder: %w", err)
		}
		files = append(files, imageFile{path: filepath.Join(dir, f.Name()), class: class, size: info.Size(), mtime: info.ModTime().UnixNano()})
	}
	return files, nil
}

// listImages returns the class names (sorted) and the image files of dir,
// leaving out the subfolder skip (the unlabeled images).
func listImages(dir string, classes []string, skip string) ([]string, []imageFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("datasets: imagefolder: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && (skip == "" || !sameDir(filepath.Join(dir, e.Name()), skip)) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if classes != nil && !slices.Equal(names, classes) {
		return nil, nil, fmt.Errorf("datasets: imagefolder: %s has class folders [%s], the training folder [%s]; both need the same classes", dir, strings.Join(names, ", "), strings.Join(classes, ", "))
	}
	if len(names) < 2 {
		return nil, nil, fmt.Errorf("datasets: imagefolder: %s has %d class folder(s); put each class's images in a subfolder named by the class (at least two)", dir, len(names))
	}
	var files []imageFile
	for c, n := range names {
		sub := filepath.Join(dir, n)
		imgs, err := imagesIn(sub, c)
		if err != nil {
			return nil, nil, err
		}
		if len(imgs) == 0 {
			return nil, nil, fmt.Errorf("datasets: imagefolder: class folder %s holds no images (.png, .jpg, .jpeg, .gif)", sub)
		}
		files = append(files, imgs...)
	}
	return names, files, nil
}

// sameDir reports whether two paths name one folder.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ia, erra := os.Stat(a)
	ib, errb := os.Stat(b)
	return erra == nil && errb == nil && os.SameFile(ia, ib)
}

// LoadImageFolder reads the images of f.Dir (then f.TestDir, as the test
// file) into a data set of [C, H, W] images scaled to [0, 1], from the cache
// when an earlier call decoded the same files with the same settings.
func LoadImageFolder(f ImageFolder) (*Dataset, error) {
	if f.Dir == "" {
		return nil, fmt.Errorf("datasets: imagefolder needs data.dir, the folder of class subfolders")
	}
	if len(f.Size) != 0 && (len(f.Size) != 2 || f.Size[0] < 1 || f.Size[1] < 1) {
		return nil, fmt.Errorf("datasets: imagefolder: data.size must be [height, width] with both >= 1, got %v", f.Size)
	}
	if f.Channels != 0 && f.Channels != 1 && f.Channels != 3 {
		return nil, fmt.Errorf("datasets: imagefolder: data.channels must be 1 or 3, got %d", f.Channels)
	}
	names, files, err := listImages(f.Dir, nil, f.Unlabel)
	if err != nil {
		return nil, err
	}
	if f.Unlabel != "" {
		un, err := imagesIn(f.Unlabel, Unlabeled)
		if err != nil {
			return nil, err
		}
		if len(un) == 0 {
			return nil, fmt.Errorf("datasets: imagefolder: data.unlabeled %s holds no images (.png, .jpg, .jpeg, .gif)", f.Unlabel)
		}
		files = append(files, un...)
	}
	trainN := len(files)
	if f.TestDir != "" {
		_, test, err := listImages(f.TestDir, names, "")
		if err != nil {
			return nil, err
		}
		files = append(files, test...)
	}
	key := imageCacheKey(f, files)
	cachePath := ""
	if f.Cache != "off" {
		dir := f.Cache
		if dir == "" {
			if c, err := os.UserCacheDir(); err == nil {
				dir = filepath.Join(c, "alrl", "images")
			}
		}
		if dir != "" {
			cachePath = filepath.Join(dir, fmt.Sprintf("%s-%016x.bin", filepath.Base(filepath.Clean(f.Dir)), key))
			if d, err := readImageCache(cachePath, len(files)); err == nil {
				d.Name, d.ClassNames, d.TrainN, d.NumClasses = filepath.Base(filepath.Clean(f.Dir)), names, trainN, len(names)
				for i, fl := range files {
					d.Y[i] = fl.class
					d.Paths = append(d.Paths, fl.path)
				}
				return d, d.Validate()
			}
		}
	}
	imgs := make([]image.Image, len(files))
	grey := true
	for i, fl := range files {
		im, err := decodeImage(fl.path)
		if err != nil {
			return nil, err
		}
		imgs[i] = im
		if grey && !isGrey(im) {
			grey = false
		}
	}
	ch := f.Channels
	if ch == 0 {
		ch = 3
		if grey {
			ch = 1
		}
	}
	h, w := 0, 0
	if len(f.Size) == 2 {
		h, w = f.Size[0], f.Size[1]
	} else {
		b := imgs[0].Bounds()
		h, w = b.Dy(), b.Dx()
		for i, im := range imgs {
			if b := im.Bounds(); b.Dy() != h || b.Dx() != w {
				return nil, fmt.Errorf("datasets: imagefolder: %s is %dx%d but %s is %dx%d; set data.size: [height, width] to resize every image", files[i].path, b.Dx(), b.Dy(), files[0].path, w, h)
			}
		}
	}
	d := &Dataset{Name: filepath.Base(filepath.Clean(f.Dir)), Shape: []int{ch, h, w}, NumClasses: len(names), ClassNames: names, TrainN: trainN}
	d.X = make([]float32, 0, len(files)*ch*h*w)
	for i, im := range imgs {
		d.X = appendPixels(d.X, im, ch, h, w)
		d.Y = append(d.Y, files[i].class)
		d.Paths = append(d.Paths, files[i].path)
	}
	if cachePath != "" {
		// A cache that cannot be written only costs the next run a decode.
		_ = writeImageCache(cachePath, d)
	}
	return d, d.Validate()
}

// maxImagePixels bounds one decoded image (64 megapixels).
const maxImagePixels = 1 << 26

func decodeImage(path string) (image.Image, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: imagefolder: %w", err)
	}
	defer fh.Close()
	// A header that claims a huge image is refused before its pixels are
	// allocated.
	cfg, _, err := image.DecodeConfig(fh)
	if err != nil {
		return nil, fmt.Errorf("datasets: imagefolder: %s is not a readable PNG, JPEG or GIF image: %v", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("datasets: imagefolder: %s is %dx%d, more than %d pixels; shrink it before use (data.size resizes only after decoding)", path, cfg.Width, cfg.Height, maxImagePixels)
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("datasets: imagefolder: %w", err)
	}
	im, _, err := image.Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("datasets: imagefolder: %s is not a readable PNG, JPEG or GIF image: %v", path, err)
	}
	if b := im.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("datasets: imagefolder: %s is empty (%dx%d)", path, b.Dx(), b.Dy())
	}
	return im, nil
}

func isGrey(im image.Image) bool {
	switch im.ColorModel() {
	case color.GrayModel, color.Gray16Model:
		return true
	}
	b := im.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := im.At(x, y).RGBA()
			if r != g || g != bl {
				return false
			}
		}
	}
	return true
}

// appendPixels appends im resized to h x w (bilinear, pixel centres
// aligned) as ch planes in [0, 1]; grey is the mean of R, G and B.
func appendPixels(dst []float32, im image.Image, ch, h, w int) []float32 {
	b := im.Bounds()
	sh, sw := b.Dy(), b.Dx()
	rgb := make([][3]float64, sh*sw)
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			r, g, bl, _ := im.At(b.Min.X+x, b.Min.Y+y).RGBA()
			rgb[y*sw+x] = [3]float64{float64(r) / 65535, float64(g) / 65535, float64(bl) / 65535}
		}
	}
	sample := func(y, x float64, c int) float64 {
		y = math.Max(0, math.Min(float64(sh-1), y))
		x = math.Max(0, math.Min(float64(sw-1), x))
		y0, x0 := int(y), int(x)
		y1, x1 := min(y0+1, sh-1), min(x0+1, sw-1)
		fy, fx := y-float64(y0), x-float64(x0)
		v := func(yy, xx int) float64 {
			p := rgb[yy*sw+xx]
			if ch == 1 {
				return (p[0] + p[1] + p[2]) / 3
			}
			return p[c]
		}
		return (1-fy)*((1-fx)*v(y0, x0)+fx*v(y0, x1)) + fy*((1-fx)*v(y1, x0)+fx*v(y1, x1))
	}
	for c := 0; c < ch; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				sy := (float64(y)+0.5)*float64(sh)/float64(h) - 0.5
				sx := (float64(x)+0.5)*float64(sw)/float64(w) - 0.5
				dst = append(dst, float32(sample(sy, sx, c)))
			}
		}
	}
	return dst
}

func imageCacheKey(f ImageFolder, files []imageFile) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "v1|%v|%d|", f.Size, f.Channels)
	for _, fl := range files {
		fmt.Fprintf(h, "%s|%d|%d|%d|", fl.path, fl.class, fl.size, fl.mtime)
	}
	return h.Sum64()
}

// The cache file: magic, count, C, H, W (uint32 little-endian), then the
// pixels as float32. Labels come from the folder listing, not the cache.
const imageCacheMagic = 0x616c696d // "alim"

func writeImageCache(path string, d *Dataset) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		hdr := []uint32{imageCacheMagic, uint32(d.Len()), uint32(d.Shape[0]), uint32(d.Shape[1]), uint32(d.Shape[2])}
		if err := binary.Write(w, binary.LittleEndian, hdr); err != nil {
			return err
		}
		return binary.Write(w, binary.LittleEndian, d.X)
	})
}

func readImageCache(path string, n int) (*Dataset, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	hdr := make([]uint32, 5)
	if err := binary.Read(fh, binary.LittleEndian, hdr); err != nil {
		return nil, err
	}
	if hdr[0] != imageCacheMagic || int(hdr[1]) != n {
		return nil, errors.New("stale image cache")
	}
	shape := []int{int(hdr[2]), int(hdr[3]), int(hdr[4])}
	// The header must account for the file's size exactly (in uint64, so
	// that a corrupt header can neither overflow nor ask for a huge slice).
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	per := uint64(hdr[2]) * uint64(hdr[3]) * uint64(hdr[4])
	if per == 0 || per > 1<<32 || uint64(st.Size()) != 20+4*per*uint64(n) {
		return nil, errors.New("corrupt image cache")
	}
	x := make([]float32, n*shapeProduct(shape))
	if err := binary.Read(fh, binary.LittleEndian, x); err != nil {
		return nil, err
	}
	return &Dataset{X: x, Y: make([]int, n), Shape: shape, NumClasses: 0}, nil
}
