package app

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/alrl/alrl/experiments"
)

func queryCmd() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "list the samples a run with a human oracle waits to have labeled",
		ArgsUsage: "RUN_DIR",
		Description: `A run with oracle: {name: file} stops when a round needs labels and writes
RUN_DIR/queries.json. This prints them as CSV lines index,label (label empty
while unanswered) with the file or row each came from, and the classes to
answer with. Fill in the labels and give the file to alrl answer.
With --format labelstudio it prints the queries as Label Studio tasks to
import instead; alrl answer reads Label Studio's JSON (or JSON-MIN) export.

Examples:
   alrl query runs/my-photos/margin/seed-1 > labels.csv
   alrl query --format labelstudio runs/my-photos/margin/seed-1 > tasks.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "csv", Usage: "csv (lines index,label) or labelstudio (tasks to import into Label Studio)"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return fmt.Errorf("query: name exactly one run folder")
			}
			dir := c.Args().First()
			q, err := experiments.ReadQueries(dir)
			if err != nil {
				return err
			}
			ans, err := experiments.ReadAnswers(dir)
			if err != nil {
				return err
			}
			w := c.App.Writer
			switch c.String("format") {
			case "csv":
			case "labelstudio":
				b, err := experiments.LabelStudioTasks(q)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "%s\n", b)
				return err
			default:
				return fmt.Errorf("query: --format %q is not csv or labelstudio", c.String("format"))
			}
			fmt.Fprintf(w, "# round %d of %s: %d samples; classes: %s\n", q.Round, dir, len(q.Items), strings.Join(q.Classes, ", "))
			fmt.Fprintln(w, "index,label")
			for _, it := range q.Items {
				label := ""
				if y, ok := ans.Answer(it.Index); ok && y < len(q.Classes) {
					label = q.Classes[y]
				}
				fmt.Fprintf(w, "%d,%s  # %s\n", it.Index, label, it.Source)
			}
			return nil
		},
	}
}

func answerCmd() *cli.Command {
	return &cli.Command{
		Name:      "answer",
		Usage:     "record a person's labels for a run's queries (then alrl train --resume goes on)",
		ArgsUsage: "RUN_DIR FILE",
		Description: `Reads FILE (or - for standard input): lines index,label, where label is a
class name from alrl query's header or a class index; a header line
index,label, blank lines and # comments are skipped. A Label Studio JSON or
JSON-MIN export of the tasks alrl query --format labelstudio wrote is read
too (each task's last annotation that was not cancelled). Answers for indices
that were not queried, or unknown labels, are refused and nothing is
written. A later answer for the same index replaces the earlier one (and
says so). answers.json is written atomically, so answering can stop and
go on at any point.

Example:
   alrl answer runs/my-photos/margin/seed-1 labels.csv && alrl train -c my.yaml --resume`,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 2 {
				return fmt.Errorf("answer: give the run folder and the answers file")
			}
			dir, path := c.Args().Get(0), c.Args().Get(1)
			var b []byte
			var err error
			if path == "-" {
				b, err = io.ReadAll(c.App.Reader)
			} else {
				b, err = os.ReadFile(path)
			}
			if err != nil {
				return err
			}
			labels, err := experiments.ParseAnswers(b)
			if err != nil {
				return fmt.Errorf("answer: %s: %w", path, err)
			}
			res, err := experiments.Answer(dir, labels)
			if err != nil {
				return fmt.Errorf("answer: %w", err)
			}
			for _, r := range res.Replaced {
				fmt.Fprintf(c.App.ErrWriter, "replaced %s\n", r)
			}
			fmt.Fprintf(c.App.Writer, "%d answers recorded; %d samples of the round still unanswered\n", res.Applied, res.Remaining)
			if res.Remaining == 0 {
				fmt.Fprintln(c.App.Writer, "the round is complete: continue with alrl train --resume")
			}
			return nil
		},
	}
}
