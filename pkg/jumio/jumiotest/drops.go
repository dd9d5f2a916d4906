package jumiotest

import (
	"context"
	"math/rand/v2"

	"github.com/kycflow/kycflow/pkg/events"
)

// dropper decides which of the callbacks the server posts on its own are
// dropped, and keeps them. s.mu guards it.
type dropper struct {
	rng     *rand.Rand
	share   float64
	dropped []droppedCallback
}

type droppedCallback struct {
	target string
	sent   SentCallback
}

func newDropper(seed uint64, share float64) dropper {
	return dropper{rng: rand.New(rand.NewPCG(seed, seed^0x64726f70)), share: share}
}

// SetCallbackDrop sets the share (0 to 1, clamped) of the callbacks the
// server posts on its own that it drops from now on.
func (s *Server) SetCallbackDrop(share float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops.share = min(max(share, 0), 1)
}

// callback posts the Platform callback of e to target, unless the drop
// share says to drop it: then it is kept for DeliverDropped.
func (s *Server) callback(target string, e Execution) {
	body := s.PlatformCallback(e, e.CallbackSentAt, e.UserReference)
	c := SentCallback{API: events.APIPlatform, Reference: e.ID, AccountID: e.AccountID, SentAt: e.CallbackSentAt,
		ContentType: "application/json", Body: body}
	s.mu.Lock()
	drop := s.drops.share > 0 && s.drops.rng.Float64() < s.drops.share
	if drop {
		s.drops.dropped = append(s.drops.dropped, droppedCallback{target: target, sent: c})
	}
	s.mu.Unlock()
	if drop {
		return
	}
	_, _, _ = s.post(s.cfg.CallbackClient, target, c.ContentType, body, nil)
}

// DroppedCallbacks returns the callbacks dropped so far and not delivered
// since, in the order dropped.
func (s *Server) DroppedCallbacks() []SentCallback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentCallback, len(s.drops.dropped))
	for i, d := range s.drops.dropped {
		out[i] = d.sent
	}
	return out
}

// DeliverDropped posts the dropped callbacks now, unchanged (their
// callbackSentAt is when they were first due), as a callback that arrives
// late after all; it returns each with its answer. They are no longer
// kept, whatever the answer.
func (s *Server) DeliverDropped(ctx context.Context) ([]SentCallback, error) {
	s.mu.Lock()
	pending := s.drops.dropped
	s.drops.dropped = nil
	s.mu.Unlock()
	out := make([]SentCallback, 0, len(pending))
	for _, d := range pending {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		c := d.sent
		c.Status, _, c.Err = s.post(s.cfg.CallbackClient, d.target, c.ContentType, c.Body, nil)
		out = append(out, c)
	}
	return out, nil
}
