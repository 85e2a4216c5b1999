// Package logbuf batches log lines into few writes.
//
// Every request writes a log line. Written straight to stdout, each line is
// a write syscall made while slog's handler holds its lock, so concurrent
// requests queue behind one another's syscalls: under the read mix that was
// about 3 % of the server's CPU and a source of tail latency. A Writer
// copies lines into a buffer and writes it out when it fills, every
// interval, and on Close; a crash loses at most the last interval's lines
// (request lines only: audit entries are in the database).
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer is an io.Writer that buffers and flushes on a timer. Its methods
// are safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New buffers up to size bytes for out and flushes them at least every
// interval. Close it to flush the rest and stop its timer.
func New(out io.Writer, size int, interval time.Duration) *Writer {
	w := &Writer{buf: bufio.NewWriterSize(out, size), stop: make(chan struct{}), done: make(chan struct{})}
	go w.flushEvery(interval)
	return w
}

func (w *Writer) flushEvery(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write buffers p (writing the buffer out first when p does not fit).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

// Close stops the timer and flushes. Writes after Close are still
// buffered, and written by the next Flush.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return w.Flush()
}
