package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// heartbeat reports an activity's progress. set records each step (the SDK throttles what
// reaches the server); a background ticker also re-sends the latest progress a few times per
// heartbeat timeout, so that one slow step (a big batch, a long greedy decode) does not look
// like a dead worker. A killed process stops both, which is what the timeout is for.
type heartbeat struct {
	ctx  context.Context
	mu   sync.Mutex
	last Heartbeat
	stop chan struct{}
	wg   sync.WaitGroup
}

func startHeartbeat(ctx context.Context, p Heartbeat) *heartbeat {
	h := &heartbeat{ctx: ctx, last: p, stop: make(chan struct{})}
	every := activity.GetInfo(ctx).HeartbeatTimeout / 3
	if every <= 0 {
		every = 5 * time.Second
	}
	every = max(every, 200*time.Millisecond)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				h.mu.Lock()
				p := h.last
				h.mu.Unlock()
				activity.RecordHeartbeat(ctx, p)
			}
		}
	}()
	activity.RecordHeartbeat(ctx, p)
	return h
}

// set records new progress and sends it.
func (h *heartbeat) set(p Heartbeat) {
	h.mu.Lock()
	h.last = p
	h.mu.Unlock()
	activity.RecordHeartbeat(h.ctx, p)
}

// done stops the background ticker.
func (h *heartbeat) done() {
	close(h.stop)
	h.wg.Wait()
}
