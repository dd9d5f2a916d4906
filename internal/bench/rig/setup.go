package rig

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// setupSubjects are the JetStream API requests that create or update a
// stream (a key-value bucket is a stream): what the stages send at start.
var setupSubjects = []string{"$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>"}

// setupWatch sees, from before the stages start until they are ready,
// the requests that create or update a stream and the answers JetStream
// sends back to the requesters' inboxes (it hears every message to
// _INBOX.>, so it runs only while the pipeline starts).
type setupWatch struct {
	nc *nats.Conn

	mu       sync.Mutex
	requests []setupRequest
	answered map[string]bool
}

// setupRequest is a create or update request: its subject and the inbox
// its answer goes to.
type setupRequest struct{ subject, reply string }

// watchSetup starts watching the server at url.
func watchSetup(ctx context.Context, url string) (*setupWatch, error) {
	w := &setupWatch{answered: map[string]bool{}}
	var err error
	if w.nc, err = nats.Connect(url, nats.Name("kycflow-rig-setup"), nats.CustomInboxPrefix(rigInboxPrefix+"_setup")); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	for _, subj := range setupSubjects {
		sub, err := w.nc.Subscribe(subj, func(m *nats.Msg) {
			if m.Reply == "" {
				return
			}
			w.mu.Lock()
			w.requests = append(w.requests, setupRequest{m.Subject, m.Reply})
			w.mu.Unlock()
		})
		if err != nil {
			w.nc.Close()
			return nil, fmt.Errorf("rig: %w", err)
		}
		_ = sub.SetPendingLimits(-1, -1)
	}
	sub, err := w.nc.Subscribe("_INBOX.>", func(m *nats.Msg) {
		w.mu.Lock()
		w.answered[m.Subject] = true
		w.mu.Unlock()
	})
	if err != nil {
		w.nc.Close()
		return nil, fmt.Errorf("rig: %w", err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	// The subscriptions are in place on the server before a stage starts.
	if err := w.nc.FlushWithContext(ctx); err != nil {
		w.nc.Close()
		return nil, fmt.Errorf("rig: %w", err)
	}
	return w, nil
}

// unansweredGrace is how long SetupUnanswered waits for answers still
// missing. An answer to a create comes when the new stream's leader is
// elected, by the time the stages that needed it are up; one silenced by
// the server never comes.
const unansweredGrace = 10 * time.Second

// SetupSeen is what the watch of PipelineConfig.WatchSetup saw while the
// stages started.
type SetupSeen struct {
	// Requests are the subjects of the requests that create or update a
	// stream or a bucket, in the order sent.
	Requests []string
	// Unanswered are those of Requests that JetStream did not answer.
	Unanswered []string
}

// stop ends the watch and returns what it saw, once every request is
// answered or unansweredGrace has passed.
func (w *setupWatch) stop(ctx context.Context) (SetupSeen, error) {
	defer w.nc.Close()
	deadline := time.Now().Add(unansweredGrace)
	for {
		// What the server sent before the flush's answer has arrived.
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := w.nc.FlushWithContext(fctx)
		cancel()
		if err != nil {
			return SetupSeen{}, fmt.Errorf("rig: %w", err)
		}
		seen := w.seen()
		if len(seen.Unanswered) == 0 || time.Now().After(deadline) {
			return seen, nil
		}
		select {
		case <-ctx.Done():
			return seen, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (w *setupWatch) seen() SetupSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	var seen SetupSeen
	for _, r := range w.requests {
		seen.Requests = append(seen.Requests, r.subject)
		if !w.answered[r.reply] {
			seen.Unanswered = append(seen.Unanswered, r.subject)
		}
	}
	return seen
}

// SetupSeen ends the watch of PipelineConfig.WatchSetup and returns the
// requests that create or update a stream or a bucket which the stages
// sent since they started and those JetStream did not answer (it waits a
// few seconds for answers still missing). A request answered too late for its requester counts as
// answered; one never answered made its requester wait for its own
// timeout. Call it once the stages are up and have done some work.
func (p *Pipeline) SetupSeen(ctx context.Context) (SetupSeen, error) {
	if p.setup == nil {
		return SetupSeen{}, errors.New("rig: no setup watch (PipelineConfig.WatchSetup), or it has ended")
	}
	w := p.setup
	p.setup = nil
	return w.stop(ctx)
}
