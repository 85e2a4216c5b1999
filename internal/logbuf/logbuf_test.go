package logbuf

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while the flusher writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLinesArriveWholeAndInOrder(t *testing.T) {
	var out syncBuffer
	w := New(&out, 64, time.Hour) // small buffer: most lines force a write
	var want bytes.Buffer
	for i := range 100 {
		line := fmt.Sprintf("line %03d\n", i)
		want.WriteString(line)
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("got %q", out.String())
	}
}

func TestFlushesOnItsTimer(t *testing.T) {
	var out syncBuffer
	w := New(&out, 1<<16, 10*time.Millisecond)
	defer w.Close()
	w.Write([]byte("listening\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "listening\n" {
		if time.Now().After(deadline) {
			t.Fatalf("a buffered line was not written by the timer: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentWritersDoNotInterleave(t *testing.T) {
	var out syncBuffer
	w := New(&out, 256, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				w.Write(fmt.Appendf(nil, "g%d-%03d|", g, i))
			}
		}()
	}
	wg.Wait()
	w.Close()
	got := out.String()
	for g := range 8 {
		last := -1
		for _, rec := range bytes.Split([]byte(got), []byte("|")) {
			var gg, i int
			if n, _ := fmt.Sscanf(string(rec), "g%d-%d", &gg, &i); n != 2 || gg != g {
				continue
			}
			if i != last+1 {
				t.Fatalf("writer %d: record %d after %d", g, i, last)
			}
			last = i
		}
		if last != 199 {
			t.Fatalf("writer %d: last record %d", g, last)
		}
	}
}
