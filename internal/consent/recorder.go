package consent

import (
	"context"
	"errors"
)

// Recorder stores receipts durably and answers each caller once its
// receipt is on disk. Receipts that arrive while a batch is being written
// go together in the next one, so a burst costs one sync, not one each.
type Recorder struct {
	st       Store
	maxBatch int
	in       chan *pending
}

type pending struct {
	r    *Receipt
	done chan error
}

// ErrClosed: the recorder stopped.
var ErrClosed = errors.New("consent: recorder stopped")

// NewRecorder makes a recorder writing batches of at most maxBatch
// receipts (default 256). Run must be running for Record to return.
func NewRecorder(st Store, maxBatch int) *Recorder {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	return &Recorder{st: st, maxBatch: maxBatch, in: make(chan *pending, 4*maxBatch)}
}

// Record stores r and returns when it is durable (or failed).
func (rc *Recorder) Record(ctx context.Context, r *Receipt) error {
	p := &pending{r: r, done: make(chan error, 1)}
	select {
	case rc.in <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The receipt may still be written; the caller's request ended.
		return ctx.Err()
	}
}

// Run writes batches until ctx ends; what is queued then is written
// before it returns.
func (rc *Recorder) Run(ctx context.Context) {
	batch := make([]*pending, 0, rc.maxBatch)
	rs := make([]*Receipt, 0, rc.maxBatch)
	write := func() {
		rs = rs[:0]
		for _, p := range batch {
			rs = append(rs, p.r)
		}
		err := rc.st.AddReceipts(context.WithoutCancel(ctx), rs)
		for _, p := range batch {
			p.done <- err
		}
		batch = batch[:0]
	}
	for {
		select {
		case p := <-rc.in:
			batch = append(batch, p)
		case <-ctx.Done():
			for {
				select {
				case p := <-rc.in:
					batch = append(batch, p)
					if len(batch) == rc.maxBatch {
						write()
					}
				default:
					if len(batch) > 0 {
						write()
					}
					return
				}
			}
		}
	fill:
		for len(batch) < rc.maxBatch {
			select {
			case p := <-rc.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		write()
	}
}
