package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/alrl/alrl/experiments"
)

// shellWords splits one shell command line into words (single and double
// quotes, backslash escapes); a # outside quotes that starts a word ends the
// line. It is enough for the command lines the docs show.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == '\'' || ch == '"':
			quote, inWord = ch, true
		case ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '#' && !inWord:
			return words
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`alrl train -c x.yaml   # a comment`, []string{"alrl", "train", "-c", "x.yaml"}},
		{`alrl train --set 'seeds=[1,2]' --set "a=b c"`, []string{"alrl", "train", "--set", "seeds=[1,2]", "--set", "a=b c"}},
		{`alrl report a\ b#c`, []string{"alrl", "report", "a b#c"}},
	} {
		if got := shellWords(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("shellWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// docCommand is one alrl command line shown in the docs.
type docCommand struct {
	where string // file:line
	args  []string
}

var inlineAlrl = regexp.MustCompile("`((?:bin/)?alrl [^`]+)`")

// docCommands returns the alrl command lines of README.md and docs/*.md:
// every line of a fenced block whose command (after a `$ ` prompt, or
// between &&, ; and |) starts with alrl or bin/alrl, and every inline code
// span of more than two words that does; lines with shell expansions ($, <(, backquotes) and
// placeholders (..., [optional]) are left out.
func docCommands(t *testing.T, root string) []docCommand {
	t.Helper()
	pages := []string{filepath.Join(root, "README.md")}
	more, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	pages = append(pages, more...)
	var out []docCommand
	add := func(where, seg string) {
		seg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(seg), "$ "))
		if !strings.HasPrefix(seg, "alrl ") && !strings.HasPrefix(seg, "bin/alrl ") {
			return
		}
		if strings.ContainsAny(seg, "$`<>") || strings.Contains(seg, "...") || strings.Contains(seg, " [") {
			return
		}
		out = append(out, docCommand{where: where, args: shellWords(seg)})
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		fenced := false
		for i, line := range strings.Split(string(b), "\n") {
			where := rel + ":" + strconv.Itoa(i+1)
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				fenced = !fenced
				continue
			}
			if fenced {
				for _, seg := range regexp.MustCompile(`&&|;|\|`).Split(line, -1) {
					add(where, seg)
				}
				continue
			}
			for _, m := range inlineAlrl.FindAllStringSubmatch(line, -1) {
				if len(strings.Fields(m[1])) > 2 { // `alrl sweep` names a command, it is no command line
					add(where, m[1])
				}
			}
		}
	}
	return out
}

// dryApp is the CLI with every command's action replaced by check, so that
// a command line is parsed (command, flags, required flags) but not run.
func dryApp(check func(*cli.Context) error) *cli.App {
	a := New()
	a.Writer, a.ErrWriter = io.Discard, io.Discard
	a.ExitErrHandler = func(*cli.Context, error) {}
	var walk func([]*cli.Command)
	walk = func(cs []*cli.Command) {
		for _, c := range cs {
			c.Before, c.After = nil, nil
			if c.Action != nil {
				c.Action = check
			}
			walk(c.Subcommands)
		}
	}
	walk(a.Commands)
	return a
}

// TestDocsCommandsParse: every alrl command line the README and the docs
// show names a real command with flags it has, and every builtin:NAME and
// experiments/... file it passes with -c exists. Commands that would run an
// experiment are parsed, not run (the end-to-end tests run the main ones).
func TestDocsCommandsParse(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	cmds := docCommands(t, root)
	if len(cmds) < 40 {
		t.Fatalf("found %d alrl command lines in the docs, want at least 40 (is the extraction broken?)", len(cmds))
	}
	configs, sweeps := experiments.Shipped(), experiments.ShippedSweeps()
	for _, dc := range cmds {
		reached := false
		check := func(c *cli.Context) error {
			reached = true
			cfg := c.String("config")
			name, builtin := strings.CutPrefix(cfg, "builtin:")
			switch {
			case builtin && c.Command.Name == "sweep" && !slices.Contains(sweeps, name):
				t.Errorf("%s: %q: no shipped sweep %q (alrl list configs)", dc.where, strings.Join(dc.args, " "), name)
			case builtin && c.Command.Name != "sweep" && !slices.Contains(configs, name):
				t.Errorf("%s: %q: no shipped config %q (alrl list configs)", dc.where, strings.Join(dc.args, " "), name)
			case strings.HasPrefix(cfg, "experiments/"):
				if _, err := os.Stat(filepath.Join(root, cfg)); err != nil {
					t.Errorf("%s: %q: %v", dc.where, strings.Join(dc.args, " "), err)
				}
			}
			return nil
		}
		args := append([]string{"alrl"}, dc.args[1:]...)
		err := dryApp(check).RunContext(context.Background(), args)
		help := slices.Contains(args, "--help") || slices.Contains(args, "-h")
		switch {
		case err != nil:
			t.Errorf("%s: %q: %v", dc.where, strings.Join(dc.args, " "), err)
		case !reached && !help:
			t.Errorf("%s: %q reaches no command (only help was shown)", dc.where, strings.Join(dc.args, " "))
		}
	}
}
