// Command alrl-with-ratio is the standard alrl command line with the example
// strategy plugin of examples/goplugin compiled in: `alrl-with-ratio list
// strategies` shows ratio, and configs may name it. Your own plugin joins
// the same way: one blank import next to the standard CLI.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alrl/alrl/cmd/alrl/app"
	_ "github.com/alrl/alrl/examples/goplugin" // registers the "ratio" strategy
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.New().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "alrl:", err)
		os.Exit(1)
	}
}
