package learner

import "context"

// ProgressFunc receives progress of a long operation: stage names it
// ("train", "score", ...), done of total units are finished.
type ProgressFunc func(stage string, done, total int)

type progressKey struct{}

// WithProgress returns a context whose long operations report to f.
func WithProgress(ctx context.Context, f ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

// Report sends progress to the context's ProgressFunc, if any.
func Report(ctx context.Context, stage string, done, total int) {
	if f, ok := ctx.Value(progressKey{}).(ProgressFunc); ok && f != nil {
		f(stage, done, total)
	}
}
