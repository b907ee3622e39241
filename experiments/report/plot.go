package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Line styles that stay distinct in print: dash pattern and marker shape
// change together with the colour (Okabe-Ito palette).
var (
	dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)},
		{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}, {vg.Points(12), vg.Points(4)},
		{vg.Points(4), vg.Points(2), vg.Points(1), vg.Points(2), vg.Points(1), vg.Points(2)}}
	glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{},
		draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}
	colours = []color.RGBA{{0, 0, 0, 255}, {213, 94, 0, 255}, {0, 114, 178, 255},
		{0, 158, 115, 255}, {204, 121, 167, 255}, {230, 159, 0, 255}, {86, 180, 233, 255}}
)

// plotCurves draws each group's mean learning curve with its confidence band
// and every seed's curve faintly behind it, on axes scaled to the data, and
// returns it as PNG and as SVG.
func plotCurves(title string, groups []*Group, level float64) (png, svg []byte, err error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "labeled samples"
	p.Y.Label.Text = fmt.Sprintf("test accuracy (mean, %g%% CI over seeds)", 100*level)
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	for i, g := range groups {
		if len(g.Curve) == 0 {
			continue
		}
		col := colours[i%len(colours)]
		if len(g.Runs) > 1 {
			// Accuracies live in [0, 1]; a t-interval from few seeds may not
			// (the CSV keeps the unclipped bounds).
			clip := func(y float64) float64 { return math.Max(0, math.Min(1, y)) }
			band := make(plotter.XYs, 0, 2*len(g.Curve))
			for _, c := range g.Curve {
				band = append(band, plotter.XY{X: float64(c.Labels), Y: clip(c.Acc.Hi)})
			}
			for j := len(g.Curve) - 1; j >= 0; j-- {
				band = append(band, plotter.XY{X: float64(g.Curve[j].Labels), Y: clip(g.Curve[j].Acc.Lo)})
			}
			if poly, err := plotter.NewPolygon(band); err == nil {
				poly.Color = color.NRGBA{R: col.R, G: col.G, B: col.B, A: 40} // not premultiplied
				poly.LineStyle.Width = 0
				p.Add(poly)
			}
		}
		// Each seed's own curve, thin and faint behind the mean.
		for _, r := range g.Runs {
			labels, acc := curveOf(r)
			if len(g.Runs) < 2 || len(labels) < 2 {
				break
			}
			trace := make(plotter.XYs, len(labels))
			for j := range labels {
				trace[j] = plotter.XY{X: float64(labels[j]), Y: acc[j]}
			}
			if l, err := plotter.NewLine(trace); err == nil {
				l.Color = color.NRGBA{R: col.R, G: col.G, B: col.B, A: 90}
				l.Width = vg.Points(0.5)
				p.Add(l)
			}
		}
		pts := make(plotter.XYs, len(g.Curve))
		for j, c := range g.Curve {
			pts[j] = plotter.XY{X: float64(c.Labels), Y: c.Acc.Mean}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, nil, fmt.Errorf("plotting %s: %w", g.Name, err)
		}
		line.Color, points.Color = col, col
		line.Dashes = dashes[i%len(dashes)]
		line.Width = vg.Points(1.5)
		points.Shape = glyphs[i%len(glyphs)]
		points.Radius = vg.Points(2.5)
		p.Add(line, points)
		p.Legend.Add(fmt.Sprintf("%s (%d seeds)", g.Name, len(g.Runs)), line, points)
	}
	return renderPlot(p)
}

// renderPlot renders p as PNG and as SVG.
func renderPlot(p *plot.Plot) (png, svg []byte, err error) {
	render := func(format string) ([]byte, error) {
		w, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, format)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if png, err = render("png"); err != nil {
		return nil, nil, err
	}
	if svg, err = render("svg"); err != nil {
		return nil, nil, err
	}
	return png, svg, nil
}

// plotArchs draws the trainable parameters of every Active-iNAS run's
// network against the label count (one step line per run, one style per
// group), or returns nil when no group has such runs.
func plotArchs(title string, groups []*Group) (png, svg []byte, err error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "labeled samples"
	p.Y.Label.Text = "trainable parameters (thousands, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	drawn := false
	for i, g := range groups {
		col := colours[i%len(colours)]
		legend := false
		for _, a := range g.Archs {
			var pts plotter.XYs
			for _, r := range a.Rounds {
				if r.Params > 0 { // a log axis takes positive values only
					pts = append(pts, plotter.XY{X: float64(r.Labels), Y: float64(r.Params) / 1000})
				}
			}
			if len(pts) == 0 {
				continue
			}
			line, err := plotter.NewLine(pts)
			if err != nil {
				return nil, nil, fmt.Errorf("plotting %s: %w", g.Name, err)
			}
			line.StepStyle = plotter.PostStep
			line.Color = col
			line.Dashes = dashes[i%len(dashes)]
			line.Width = vg.Points(1.2)
			p.Add(line)
			if !legend {
				p.Legend.Add(fmt.Sprintf("%s (%d runs)", g.Name, len(g.Archs)), line)
				legend = true
			}
			drawn = true
		}
	}
	if !drawn {
		return nil, nil, nil
	}
	return renderPlot(p)
}
