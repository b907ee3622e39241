package learner

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/alrl/alrl/internal/atomicfile"
)

// Tensor is a named float32 array with its shape, the unit of a weights file.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

const weightsMagic = "ALRLWTS1"

// WriteWeights writes tensors to path atomically (temporary file, fsync,
// rename) in a small self-describing format with a CRC32 checksum.
func WriteWeights(path string, ts []Tensor) error {
	for _, t := range ts {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("weights: tensor %q has %d values for shape %v", t.Name, len(t.Data), t.Shape)
		}
	}
	err := atomicfile.Write(path, func(f io.Writer) error {
		crc := crc32.NewIEEE()
		w := bufio.NewWriter(io.MultiWriter(f, crc))
		var err error
		put := func(v any) {
			if err == nil {
				err = binary.Write(w, binary.LittleEndian, v)
			}
		}
		_, err = w.WriteString(weightsMagic)
		put(uint32(len(ts)))
		for _, t := range ts {
			put(uint32(len(t.Name)))
			if err == nil {
				_, err = w.WriteString(t.Name)
			}
			put(uint32(len(t.Shape)))
			for _, s := range t.Shape {
				put(uint64(s))
			}
			put(uint64(len(t.Data)))
			put(t.Data)
		}
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = binary.Write(f, binary.LittleEndian, crc.Sum32())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	return nil
}

// ReadWeights reads a file written by WriteWeights, checking its checksum.
func ReadWeights(path string) ([]Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading weights: %w", err)
	}
	bad := func(what string) error {
		return fmt.Errorf("weights file %s is corrupt (%s); delete the run's checkpoint folder and rerun without --resume", path, what)
	}
	if len(b) < len(weightsMagic)+8 || string(b[:len(weightsMagic)]) != weightsMagic {
		return nil, bad("bad header")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, bad("checksum mismatch")
	}
	r := &reader{b: body[len(weightsMagic):]}
	n := r.u32()
	var out []Tensor
	for i := uint32(0); i < n && r.err == nil; i++ {
		var t Tensor
		t.Name = string(r.bytes(int(r.u32())))
		rank := r.u32()
		size := 1
		for j := uint32(0); j < rank && r.err == nil; j++ {
			s := int(r.u64())
			t.Shape = append(t.Shape, s)
			size *= s
		}
		cnt := int(r.u64())
		if r.err == nil && cnt != size {
			return nil, bad(fmt.Sprintf("tensor %q has %d values for shape %v", t.Name, cnt, t.Shape))
		}
		raw := r.bytes(4 * cnt)
		if r.err != nil {
			break
		}
		t.Data = make([]float32, cnt)
		for j := range t.Data {
			t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		out = append(out, t)
	}
	if r.err != nil {
		return nil, bad(r.err.Error())
	}
	return out, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errors.New("truncated")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() uint32 {
	b := r.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *reader) u64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}
