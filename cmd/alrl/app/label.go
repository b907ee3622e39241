package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/labelui"
)

func labelCmd() *cli.Command {
	return &cli.Command{
		Name:  "label",
		Usage: "label a run's queries in the browser: a local page that drives the run",
		Description: `Runs the experiment of a config whose oracle is a person (oracle: {name: file})
and serves a page at --addr where one or more people label the samples each
round asks for (pictures for image data, a table of values for rows), with
a button and a key (1 to 9, 0) per class. Every answer is written at once,
atomically, into the run's answers.json; when a round's last sample has a
label, the loop fits and queries the next round by itself. Stop it at any
time (Ctrl-C): alrl label (or alrl train --resume) goes on from the last
answer. Two people may label on one page: a later answer for the same
sample replaces the earlier one, and the log says so.

The page is local (no CDN): open http://ADDR in a browser on this machine,
or forward the port.

Example:
   alrl label -c my-photos.yaml --addr 127.0.0.1:8421`,
		Flags: append(configFlags(""),
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8421", Usage: "host:port to serve the page on (port 0: any free port)"}),
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			cfg, err := configFromFlags(c)
			if err != nil {
				return err
			}
			dataDir := c.String("data-dir")
			srv, err := labelui.New(cfg, experiments.Options{DataDir: dataDir, Log: log, Version: Version, Commit: Commit},
				func(seed uint64) (*datasets.Dataset, error) { return datasets.Load(cfg.Data, dataDir, seed) })
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", c.String("addr"))
			if err != nil {
				return fmt.Errorf("--addr %s: %w (choose another port)", c.String("addr"), err)
			}
			fmt.Fprintf(c.App.Writer, "labeling page: http://%s/ (Ctrl-C stops; nothing answered is lost)\n", ln.Addr())
			return serveAndDrive(c.Context, srv, ln, log)
		},
	}
}

// serveAndDrive serves srv's page on ln while the experiment runs; it
// returns when the experiment has finished (after the page could show it)
// or failed, or when ctx ends.
func serveAndDrive(ctx context.Context, srv *labelui.Server, ln net.Listener, log *zap.Logger) error {
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	err := srv.Drive(ctx)
	if err == nil {
		log.Info("every run has finished; the page stays up for a few seconds")
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx) //nolint:errcheck
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
