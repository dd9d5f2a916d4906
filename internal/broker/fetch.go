package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
)

// subscription is one Subscribe call: a fetch loop and one goroutine per
// message in flight.
type subscription struct {
	s       *Subscriber
	stream  string
	filters []string
	cons    jetstream.Consumer
	out     chan *message.Message
	// stopping is closed when the subscription is asked to stop; released
	// DrainTimeout later.
	stopping chan struct{}
	released chan struct{}
	// slots holds one token per message in flight.
	slots   chan struct{}
	workers sync.WaitGroup
	msgBase context.Context
	attrs   []attribute.KeyValue

	failing bool // the last fetch failed
}

func (sb *subscription) run(ctx context.Context) {
	defer sb.s.wg.Done()
	// hardCtx ends pull requests at the release deadline; until then a
	// stopping subscription lets its last pull request run out, releasing
	// what it brings, since a cancelled pull request drops messages already
	// on their way, and those would only come back after AckWait.
	hardCtx, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	done := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
		case <-sb.s.closing:
		case <-done:
			return
		}
		close(sb.stopping)
		t := time.NewTimer(sb.s.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			close(sb.released)
			cancelHard()
		case <-done:
		}
	}()

	sb.fetchLoop(hardCtx)
	sb.workers.Wait()
	close(sb.out)
	close(done)
	<-watcherDone
}

// newFetchBackOff is the wait after a failed fetch, before the next one:
// from 100 ms, doubling to at most 5 s, ±50% jitter so that the replicas
// of a service do not retry in step, never giving up; a fetch that works
// resets it. A server that is back is noticed within about 5 s.
func newFetchBackOff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMultiplier(2),
		backoff.WithMaxInterval(5*time.Second),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxElapsedTime(0),
	)
}

// fetchLoop pulls messages while slots are free, until the subscription
// stops.
func (sb *subscription) fetchLoop(ctx context.Context) {
	bo := newFetchBackOff()
	var lastWarn time.Time
	needEnsure := false
	for {
		select {
		case sb.slots <- struct{}{}:
		case <-sb.stopping:
			return
		}
		select {
		case <-sb.stopping:
			<-sb.slots
			return
		default:
		}
		n := 1
	fill:
		for n < cap(sb.slots) {
			select {
			case sb.slots <- struct{}{}:
				n++
			default:
				break fill
			}
		}
		used, err := sb.fetch(ctx, n, needEnsure)
		for range n - used {
			<-sb.slots
		}
		if err == nil {
			if sb.failing {
				sb.s.log.Info("jetstream fetch recovered", "stream", sb.stream)
				sb.failing = false
			}
			bo.Reset()
			needEnsure = false
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if !sb.failing || time.Since(lastWarn) >= time.Minute {
			sb.s.log.Warn("jetstream fetch failed", "stream", sb.stream, "error", err)
			sb.failing, lastWarn = true, time.Now()
		} else {
			sb.s.log.Debug("jetstream fetch failed", "stream", sb.stream, "error", err)
		}
		// The consumer may be gone (deleted, or a memory store lost in a
		// restart): create it again before the next fetch.
		needEnsure = true
		t := time.NewTimer(bo.NextBackOff())
		select {
		case <-t.C:
		case <-sb.stopping:
			t.Stop()
			return
		}
	}
}

// fetch runs one pull request for up to n messages and starts a worker for
// each message it gets. It returns how many workers it started.
func (sb *subscription) fetch(ctx context.Context, n int, ensure bool) (int, error) {
	if ensure {
		c, err := sb.s.ensureConsumer(ctx, sb.stream, sb.filters)
		if err != nil {
			return 0, err
		}
		sb.cons = c
	}
	pctx, cancel := context.WithTimeout(ctx, sb.s.cfg.PullExpiry)
	defer cancel()
	batch, err := sb.cons.Fetch(n, jetstream.FetchContext(pctx))
	if err != nil {
		return 0, fmt.Errorf("broker: fetch %s/%s: %w", sb.stream, sb.s.cfg.Durable, err)
	}
	used := 0
	for m := range batch.Messages() {
		select {
		case <-sb.stopping:
			sb.settle(m, outcomeRelease)
			continue
		default:
		}
		used++
		sb.workers.Add(1)
		go sb.handle(m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return used, fmt.Errorf("broker: fetch %s/%s: %w", sb.stream, sb.s.cfg.Durable, err)
	}
	return used, nil
}
