// Package atomicfile writes files so that a crash at any moment leaves either
// the old file or the complete new one: temporary file in the same folder,
// fsync, rename.
package atomicfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Write creates path atomically with what fill writes.
func Write(path string, fill func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// CreateTemp makes the file private (0600); results are meant to be read by others.
	err = f.Chmod(0o644)
	if err == nil {
		err = fill(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteBytes creates path atomically with data.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteJSON creates path atomically with v as indented JSON and a final
// newline.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteBytes(path, append(b, '\n'))
}

// IsTemp reports whether name is a temporary file of Write: "." + the
// target's name + "-" + the random digits os.CreateTemp appends.
func IsTemp(name string) bool {
	if len(name) < 4 || name[0] != '.' {
		return false
	}
	i := strings.LastIndexByte(name, '-')
	if i < 2 || i == len(name)-1 {
		return false
	}
	for _, r := range name[i+1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Sweep removes the temporary files of Write that an interrupted process
// left in dir (not in its subfolders), and returns their names. Call it only
// while holding dir's lock: another writer's temporary file is in flight.
func Sweep(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.Type().IsRegular() || !IsTemp(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return out, fmt.Errorf("removing the leftover temporary file %s: %w", filepath.Join(dir, e.Name()), err)
		}
		out = append(out, e.Name())
	}
	return out, nil
}
