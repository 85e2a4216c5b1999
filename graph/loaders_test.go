package graph

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/org"
)

func TestOrgUnitCache(t *testing.T) {
	known := uuid.New()
	calls := 0
	c := &orgUnitCache{units: map[uuid.UUID]cachedUnit{}, load: func(_ context.Context, ids []uuid.UUID) (map[uuid.UUID]*org.Unit, error) {
		calls++
		out := map[uuid.UUID]*org.Unit{}
		for _, id := range ids {
			if id == known {
				out[id] = &org.Unit{ID: id, Name: "社区"}
			}
		}
		return out, nil
	}}
	missing := uuid.New()
	if _, err := c.fetch(context.Background(), []uuid.UUID{known, missing}); err != nil {
		t.Fatal(err)
	}
	if u, ok := c.get(known); !ok || u.Name != "社区" {
		t.Fatalf("known unit not cached: %v %v", u, ok)
	}
	if _, ok := c.get(missing); ok {
		t.Fatal("a unit that does not exist was cached")
	}
	// An expired entry is a miss: the next read goes to the database again.
	c.units[known] = cachedUnit{unit: c.units[known].unit, expires: time.Now().Add(-time.Second)}
	if _, ok := c.get(known); ok {
		t.Fatal("expired unit still served")
	}
	if calls != 1 {
		t.Fatalf("load called %d times, want 1", calls)
	}
}
