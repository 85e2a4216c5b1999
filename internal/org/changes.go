package org

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Changes tells every instance that the tree changed, so that each drops
// its cached units (graph's unit cache) at once rather than when their TTL
// runs out: one Redis pub/sub channel.
type Changes struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
}

// NewChanges returns the channel under the deployment's key prefix.
func NewChanges(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Changes {
	return &Changes{rdb: rdb, channel: prefix + "org:changed", log: log}
}

// Publish announces a change. A failure is logged, not returned: the
// change is committed, and the caches' TTL bounds how long a missed
// message leaves a unit stale.
func (c *Changes) Publish(ctx context.Context) {
	if err := c.rdb.Publish(ctx, c.channel, "1").Err(); err != nil {
		c.log.WarnContext(ctx, "org change not published", "err", err.Error())
	}
}

// Run calls forget on every change any instance announces, until ctx ends.
func (c *Changes) Run(ctx context.Context, forget func()) {
	for ctx.Err() == nil {
		ps := c.rdb.Subscribe(ctx, c.channel)
		if _, err := ps.Receive(ctx); err != nil {
			ps.Close()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		// A message missed while resubscribing is covered by the TTL.
		forget()
		for open := true; open; {
			select {
			case <-ctx.Done():
				open = false
			case _, ok := <-ps.Channel():
				if ok {
					forget()
				}
				open = ok
			}
		}
		ps.Close()
	}
}
