package app

import (
	"context"
	"sync"
)

// lifecycle is what a running server owns: its background loops and the
// things it opened. Loops run under one context and are waited for; what
// was opened is closed in the reverse order, and only after every loop
// has ended, so no loop ever uses a store that is closed. Every return
// from Serve, early on an error or at the end of a shutdown, goes through
// Close.
type lifecycle struct {
	ctx    context.Context // the loops' context; ends when Close starts
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closers []func()
	closed  bool
}

func newLifecycle() *lifecycle {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifecycle{ctx: ctx, cancel: cancel}
}

// Go runs loop on a goroutine of its own with the lifecycle's context;
// Close waits for it to return.
func (l *lifecycle) Go(loop func(ctx context.Context)) {
	l.wg.Go(func() { loop(l.ctx) })
}

// OnClose registers f to run at Close, after the loops have ended; the
// last registered runs first.
func (l *lifecycle) OnClose(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, f)
}

// Close ends the loops' context, waits for every loop, then runs the
// registered closers, last first. Calls after the first do nothing.
func (l *lifecycle) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
}
