package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

const (
	idxImagesMagic = 0x00000803 // unsigned bytes, 3 dimensions
	idxLabelsMagic = 0x00000801 // unsigned bytes, 1 dimension
	// maxIDXBytes bounds the payload size a header may announce (4 GiB).
	maxIDXBytes = 1 << 32
)

// LoadIDX reads an IDX image file (magic 0x00000803) and its IDX label file (magic 0x00000801), each gzip-compressed or plain, and returns pixels scaled to [0,1], the labels and the per-sample shape [1,rows,cols].
func LoadIDX(imagesPath, labelsPath string) (x []float32, y []int, shape []int, err error) {
	imgDims, pixels, err := readIDX(imagesPath, idxImagesMagic, 3)
	if err != nil {
		return nil, nil, nil, err
	}
	lblDims, labels, err := readIDX(labelsPath, idxLabelsMagic, 1)
	if err != nil {
		return nil, nil, nil, err
	}
	if imgDims[0] != lblDims[0] {
		return nil, nil, nil, fmt.Errorf("datasets: idx: count mismatch: %s holds %d images but %s holds %d labels", imagesPath, imgDims[0], labelsPath, lblDims[0])
	}
	x = make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = float32(p) / 255
	}
	y = make([]int, len(labels))
	for i, l := range labels {
		y[i] = int(l)
	}
	return x, y, []int{1, imgDims[1], imgDims[2]}, nil
}

// readIDX opens path, transparently un-gzips it when it starts with the gzip
// magic bytes, checks the IDX magic number and returns the dimensions and the
// raw unsigned-byte payload.
func readIDX(path string, wantMagic uint32, wantDims int) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("datasets: idx: %s: file not found", path)
		}
		return nil, nil, fmt.Errorf("datasets: idx: %s: cannot open: %w", path, err)
	}
	defer f.Close()

	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	gzipped := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("datasets: idx: %s: bad gzip stream: %w", path, err)
		}
		defer zr.Close()
		r = zr
		gzipped = true
	}
	// wrap converts a read error into one that names the path and the cause.
	wrap := func(what string, err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("datasets: idx: %s: truncated: %s", path, what)
		}
		if gzipped {
			return fmt.Errorf("datasets: idx: %s: bad gzip stream while reading %s: %w", path, what, err)
		}
		return fmt.Errorf("datasets: idx: %s: read error in %s: %w", path, what, err)
	}

	header := make([]byte, 4+4*wantDims)
	if _, err := io.ReadFull(r, header[:4]); err != nil {
		return nil, nil, wrap("missing magic number", err)
	}
	magic := binary.BigEndian.Uint32(header[:4])
	if magic != wantMagic {
		return nil, nil, fmt.Errorf("datasets: idx: %s: bad magic number 0x%08x, want 0x%08x", path, magic, wantMagic)
	}
	if _, err := io.ReadFull(r, header[4:]); err != nil {
		return nil, nil, wrap("incomplete header", err)
	}
	dims := make([]int, wantDims)
	total := uint64(1)
	for i := range dims {
		v := binary.BigEndian.Uint32(header[4+4*i:])
		dims[i] = int(v)
		total *= uint64(v)
		if total > maxIDXBytes {
			return nil, nil, fmt.Errorf("datasets: idx: %s: header announces too much data (dims %v...)", path, dims[:i+1])
		}
	}
	if total > math.MaxInt {
		return nil, nil, fmt.Errorf("datasets: idx: %s: header announces too much data (dims %v)", path, dims)
	}
	// Read at most total bytes; io.ReadAll grows its buffer gradually, so a
	// corrupt header cannot force one huge allocation up front.
	data, err := io.ReadAll(io.LimitReader(r, int64(total)))
	if err != nil {
		return nil, nil, wrap(fmt.Sprintf("payload after %d bytes", len(data)), err)
	}
	if uint64(len(data)) < total {
		return nil, nil, fmt.Errorf("datasets: idx: %s: truncated: header announces %d bytes of data (dims %v) but only %d present", path, total, dims, len(data))
	}
	return dims, data, nil
}
