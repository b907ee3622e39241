// Package testimages writes small image folders for tests: grey PNGs of
// three shapes (circle, cross, square) at shifted positions.
package testimages

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
)

// Classes are the shapes, in the sorted order imagefolder gives their folders.
var Classes = []string{"circle", "cross", "square"}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// on reports whether pixel (x, y) belongs to shape c centred at (cx, cy).
func on(c, x, y, cx, cy int) bool {
	dx, dy := x-cx, y-cy
	switch Classes[c] {
	case "circle":
		return dx*dx+dy*dy <= 16 && dx*dx+dy*dy >= 6
	case "cross":
		return (dx == 0 || dy == 0) && abs(dx) <= 4 && abs(dy) <= 4
	default:
		return max(abs(dx), abs(dy)) == 4
	}
}

// Write saves a 16x16 grey PNG of shape class c, variant i, at path.
func Write(path string, c, i int) error {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	cx, cy := 6+i%4, 6+(i/4)%4
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			v := uint8((x*7 + y*13 + i*5) % 40)
			if on(c, x, y, cx, cy) {
				v = 230
			}
			img.SetGray(x, y, color.Gray{Y: v})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Folder writes perClass images of each shape into dir/<shape>/ and, when
// unlabeled > 0, that many more of each into dir/unlabeled/ (named
// <shape>-NN.png, so a test can answer for them). It returns the class of
// every unlabeled file by its path.
func Folder(dir string, perClass, unlabeled int) (map[string]int, error) {
	truth := map[string]int{}
	for c, name := range Classes {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return nil, err
		}
		for i := 0; i < perClass; i++ {
			if err := Write(filepath.Join(dir, name, fmt.Sprintf("%02d.png", i)), c, i); err != nil {
				return nil, err
			}
		}
		if unlabeled == 0 {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, "unlabeled"), 0o755); err != nil {
			return nil, err
		}
		for i := 0; i < unlabeled; i++ {
			p := filepath.Join(dir, "unlabeled", fmt.Sprintf("%s-%02d.png", name, i))
			if err := Write(p, c, perClass+i); err != nil {
				return nil, err
			}
			truth[p] = c
		}
	}
	return truth, nil
}
