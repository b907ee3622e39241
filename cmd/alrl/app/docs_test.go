package app

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/sweep"
)

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#+ (.*)$`)
	nonAnchor = regexp.MustCompile(`[^a-z0-9 -]`)
)

// anchorOf is GitHub's anchor of a heading.
func anchorOf(h string) string {
	return strings.ReplaceAll(nonAnchor.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
}

// TestDocsLinksResolve: every relative link in README.md and docs/*.md
// points at a file of the repository, and every #anchor at a heading of it.
func TestDocsLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	pages := []string{filepath.Join(root, "README.md")}
	more, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	pages = append(pages, more...)
	if len(pages) < 5 {
		t.Fatalf("found only %v", pages)
	}
	readme, _ := os.ReadFile(pages[0])
	if n := strings.Count(string(readme), "\n"); n > 200 {
		t.Errorf("README.md has %d lines; keep it to 200 and move the rest to docs/", n)
	}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(link, "#")
			target := page
			if file != "" {
				target = filepath.Join(filepath.Dir(page), file)
			}
			tb, err := os.ReadFile(target)
			if err != nil {
				if st, serr := os.Stat(target); serr == nil && st.IsDir() && frag == "" {
					continue
				}
				t.Errorf("%s: link %q: %v", page, link, err)
				continue
			}
			if frag == "" {
				continue
			}
			found := false
			for _, h := range mdHeading.FindAllStringSubmatch(string(tb), -1) {
				if anchorOf(h[1]) == frag {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", page, link, target, frag)
			}
		}
	}
}

// TestReadmeConfigsParse: the run configs shown in README.md are valid.
func TestReadmeConfigsParse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	n := 0
	for _, m := range blocks {
		text := m[1]
		if !strings.Contains(text, "strategies:") {
			continue
		}
		// Indented inside a list item in the Markdown source.
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, "   ")
		}
		if _, err := experiments.Parse("README.md", []byte(strings.Join(lines, "\n")), nil); err != nil {
			t.Errorf("README config does not parse: %v\n%s", err, text)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no config found in README.md")
	}
}

// TestDocsYAMLSnippetsParse: every ```yaml block of README.md and docs/*.md
// decodes strictly: a sweep file (it has axes:) as a sweep, anything else as
// a run config over the defaults, so a fragment's keys and values must be
// ones alrl accepts (and files they name, such as a policy, must exist).
func TestDocsYAMLSnippetsParse(t *testing.T) {
	t.Chdir(filepath.Join("..", "..", "..")) // paths in the snippets are relative to the repository root
	root := "."
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	pages = append(pages, filepath.Join(root, "README.md"))
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	n := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(b), -1) {
			n++
			lines := strings.Split(m[1], "\n")
			indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " ")) // inside a Markdown list item
			for i, l := range lines {
				if len(l) >= indent {
					lines[i] = l[indent:]
				}
			}
			text := []byte(strings.Join(lines, "\n"))
			if strings.Contains(m[1], "\naxes:") {
				_, err = sweep.Parse(page, text, root, nil)
			} else {
				_, err = experiments.Parse(page, text, nil)
			}
			if err != nil {
				t.Errorf("%s: a YAML snippet does not parse: %v\n%s", page, err, m[1])
			}
		}
	}
	if n < 5 {
		t.Errorf("found %d YAML snippets in the docs, want at least 5", n)
	}
}

// TestDocsGoSnippetsAreCompiledCode: every ```go block of README.md and
// docs/*.md is a verbatim excerpt of a Go file under examples/ or
// strategies/, so the code a reader copies is code the build compiles and
// the tests run.
func TestDocsGoSnippetsAreCompiledCode(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	var sources []string
	for _, dir := range []string{"examples", "strategies"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
				return err
			}
			b, err := os.ReadFile(p)
			sources = append(sources, string(b))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	pages = append(pages, filepath.Join(root, "README.md"))
	block := regexp.MustCompile("(?s)```go\n(.*?)```")
	n := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(b), -1) {
			n++
			found := false
			for _, s := range sources {
				if strings.Contains(s, m[1]) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: a Go snippet is not a verbatim excerpt of a Go file under examples/ or strategies/; copy it from the compiled file:\n%s", page, m[1])
			}
		}
	}
	if n == 0 {
		t.Error("found no Go snippets in the docs")
	}
}
