// Command alrl runs deep active learning experiments: `alrl train -c cfg.yaml`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alrl/alrl/cmd/alrl/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.New().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "alrl:", err)
		os.Exit(1)
	}
}
