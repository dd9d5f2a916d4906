package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ReplayMarker is the value of the Kycflow-Replay header that "kycflow
// replay" and "kycflow dlq redrive" put on the messages they re-feed into a
// stage's input stream.
//
// Its text form is "id=<replay id>" followed by optional
// "; redeliver=true" and "; routes=<a>,<b>" parts, for example
// "id=3f2a…; redeliver=true; routes=crm-webhook".
type ReplayMarker struct {
	// ID identifies the replay. It is derived from what the replay selects,
	// so running the same replay twice gives the same message ids and
	// JetStream stores the re-fed messages once.
	ID string
	// Redeliver asks the notifier to deliver a result again even when it is
	// identical to the one already delivered. Without it, a replay
	// reproduces results but the notifier suppresses identical repeats.
	Redeliver bool
	// Routes limits a notify replay to these routes; empty means all.
	Routes []string
	// Redrive marks the retry of a dead letter ("kycflow dlq redrive"):
	// the notifier delivers it only when the route has delivered neither
	// the same result nor a newer one of its key since it was
	// dead-lettered. (Redeliver alone asks for a delivery however often
	// the route had it.)
	Redrive bool
}

// ErrBadReplayMarker is returned by ParseReplayMarker for a value that is
// not a replay marker.
var ErrBadReplayMarker = errors.New("events: malformed replay marker")

// String is the header value.
func (m ReplayMarker) String() string {
	var b strings.Builder
	b.WriteString("id=")
	b.WriteString(m.ID)
	if m.Redeliver {
		b.WriteString("; redeliver=true")
	}
	if len(m.Routes) > 0 {
		b.WriteString("; routes=")
		b.WriteString(strings.Join(m.Routes, ","))
	}
	if m.Redrive {
		b.WriteString("; redrive=true")
	}
	return b.String()
}

// ParseReplayMarker reads a Kycflow-Replay header value. Unknown parts are
// ignored, so later versions can add some.
func ParseReplayMarker(s string) (ReplayMarker, error) {
	var m ReplayMarker
	for part := range strings.SplitSeq(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "id":
			m.ID = v
		case "redeliver":
			m.Redeliver = v == "true"
		case "redrive":
			m.Redrive = v == "true"
		case "routes":
			for r := range strings.SplitSeq(v, ",") {
				if r = strings.TrimSpace(r); r != "" {
					m.Routes = append(m.Routes, r)
				}
			}
		}
	}
	if m.ID == "" || strings.ContainsAny(m.ID, " ;,") {
		return ReplayMarker{}, fmt.Errorf("%w: no id", ErrBadReplayMarker)
	}
	return m, nil
}

// Covers reports whether the replay applies to route (no routes: all).
func (m ReplayMarker) Covers(route string) bool {
	return len(m.Routes) == 0 || slices.Contains(m.Routes, route)
}

// MessageID is the Nats-Msg-Id of a message re-fed by this replay from the
// message whose id was original.
func (m ReplayMarker) MessageID(original string) string {
	return DerivedID(original, "replay", m.ID)
}
