package experiments

import (
	"fmt"
	"image/color"
	"io"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/atomicfile"
)

// Curve is a learning curve: test accuracy against the number of labels,
// averaged over seeds when several runs share a strategy.
type Curve struct {
	Name   string
	Labels []int
	Acc    []float64
	Std    []float64 // across seeds; zeros for one seed
	Seeds  int
}

// CurveOf returns the curve of one run.
func CurveOf(name string, records []envs.Record) Curve {
	c := Curve{Name: name, Seeds: 1}
	for _, r := range records {
		c.Labels = append(c.Labels, r.Labels)
		c.Acc = append(c.Acc, float64(r.TestAcc))
		c.Std = append(c.Std, 0)
	}
	return c
}

// MeanCurve averages runs of one strategy at every label count that all of them reached.
func MeanCurve(name string, runs [][]envs.Record) Curve {
	byLabels := map[int][]float64{}
	for _, recs := range runs {
		for _, r := range recs {
			byLabels[r.Labels] = append(byLabels[r.Labels], float64(r.TestAcc))
		}
	}
	c := Curve{Name: name, Seeds: len(runs)}
	var ls []int
	for l, v := range byLabels {
		if len(v) == len(runs) {
			ls = append(ls, l)
		}
	}
	sort.Ints(ls)
	for _, l := range ls {
		m, s := meanStd(byLabels[l])
		c.Labels, c.Acc, c.Std = append(c.Labels, l), append(c.Acc, m), append(c.Std, s)
	}
	return c
}

// Line styles that stay distinct in black and white: dash pattern and marker
// shape change together with colour.
var (
	dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)},
		{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}, {vg.Points(12), vg.Points(4)}}
	glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{},
		draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}
	colours = []color.Color{color.RGBA{0, 0, 0, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 114, 178, 255},
		color.RGBA{0, 158, 115, 255}, color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}}
)

// PlotCurves draws learning curves (mean with a +-1 std band across seeds)
// into a PNG at path, written atomically.
func PlotCurves(path, title string, curves []Curve) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "labeled samples"
	p.Y.Label.Text = "test accuracy"
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	for i, c := range curves {
		if len(c.Labels) == 0 {
			continue
		}
		col := colours[i%len(colours)]
		if c.Seeds > 1 {
			band := make(plotter.XYs, 0, 2*len(c.Labels))
			for j := range c.Labels {
				band = append(band, plotter.XY{X: float64(c.Labels[j]), Y: c.Acc[j] + c.Std[j]})
			}
			for j := len(c.Labels) - 1; j >= 0; j-- {
				band = append(band, plotter.XY{X: float64(c.Labels[j]), Y: c.Acc[j] - c.Std[j]})
			}
			poly, err := plotter.NewPolygon(band)
			if err == nil {
				r, g, b, _ := col.RGBA()
				poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 40} // NRGBA: RGBA would be read as premultiplied
				poly.LineStyle.Width = 0
				p.Add(poly)
			}
		}
		pts := make(plotter.XYs, len(c.Labels))
		for j := range c.Labels {
			pts[j] = plotter.XY{X: float64(c.Labels[j]), Y: c.Acc[j]}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plotting %s: %w", c.Name, err)
		}
		line.Color, points.Color = col, col
		line.Dashes = dashes[i%len(dashes)]
		line.Width = vg.Points(1.5)
		points.Shape = glyphs[i%len(glyphs)]
		points.Radius = vg.Points(2.5)
		p.Add(line, points)
		name := c.Name
		if c.Seeds > 1 {
			name = fmt.Sprintf("%s (%d seeds)", c.Name, c.Seeds)
		}
		p.Legend.Add(name, line, points)
	}
	w, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(f io.Writer) error {
		_, err := w.WriteTo(f)
		return err
	})
}
