// Package periodic runs a job on every instance at an interval (the jobs
// themselves decide who does the work: an advisory lock, SKIP LOCKED).
package periodic

import (
	"context"
	"time"
)

// Every calls job every interval until ctx ends: first at once when
// atStart, otherwise after one interval; wake, when not nil, calls it
// early (a request that wants its work done now).
func Every(ctx context.Context, interval time.Duration, atStart bool, wake <-chan struct{}, job func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	if atStart {
		job(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		job(ctx)
	}
}
