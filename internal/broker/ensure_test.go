package broker

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeAsset plays a server's answers to Ensure: looks answers the
// lookups in turn (the last one repeats), creates and updates the
// requests in turn (the last one repeats); calls records what was asked.
type fakeAsset struct {
	looks   []look
	creates []error
	updates []error
	calls   []string
}

type look struct {
	state State
	err   error
}

func (f *fakeAsset) asset() Asset {
	next := func(what string, answers []error) error {
		n := 0
		for _, c := range f.calls {
			if c == what {
				n++
			}
		}
		f.calls = append(f.calls, what)
		if len(answers) == 0 {
			return nil
		}
		return answers[min(n, len(answers)-1)]
	}
	return Asset{
		Kind: "stream", Name: "S",
		Look: func(context.Context) (State, error) {
			n := 0
			for _, c := range f.calls {
				if c == "look" {
					n++
				}
			}
			f.calls = append(f.calls, "look")
			l := f.looks[min(n, len(f.looks)-1)]
			return l.state, l.err
		},
		Create: func(context.Context) error { return next("create", f.creates) },
		Update: func(context.Context) error { return next("update", f.updates) },
	}
}

func apiErr(code jetstream.ErrorCode) error {
	return &jetstream.APIError{Code: 503, ErrorCode: code, Description: "test"}
}

// TestEnsure: what Ensure asks for each state it finds. An asset that
// exists as wanted is asked nothing (the instances that start after the
// first); a create that went unanswered and took effect is not asked
// again; an asset without a leader yet is waited for, never updated; a
// create that another client's creation overtook is followed by a lookup
// and, if the other's configuration differs, an update.
func TestEnsure(t *testing.T) {
	tests := []struct {
		name  string
		asset fakeAsset
		want  []string
	}{
		{"current: nothing asked", fakeAsset{looks: []look{{Current, nil}}}, []string{"look"}},
		{"missing: created", fakeAsset{looks: []look{{Missing, nil}, {Current, nil}}}, []string{"look", "create", "look"}},
		{"created, leader elected later", fakeAsset{looks: []look{{Missing, nil}, {Leaderless, nil}, {Leaderless, nil}, {Current, nil}}},
			[]string{"look", "create", "look", "look", "look"}},
		{"create unanswered but done: not asked again", fakeAsset{
			looks:   []look{{Missing, nil}, {Leaderless, nil}, {Current, nil}},
			creates: []error{context.DeadlineExceeded},
		}, []string{"look", "create", "look", "look"}},
		{"create unanswered and not done: asked again", fakeAsset{
			looks:   []look{{Missing, nil}, {Missing, nil}, {Current, nil}},
			creates: []error{context.DeadlineExceeded, nil},
		}, []string{"look", "create", "look", "create", "look"}},
		{"another client created it otherwise: updated", fakeAsset{
			looks:   []look{{Missing, nil}, {Differs, nil}, {Current, nil}},
			creates: []error{jetstream.ErrStreamNameAlreadyInUse},
		}, []string{"look", "create", "look", "update", "look"}},
		{"being created by another client: waited for, not updated", fakeAsset{looks: []look{{Leaderless, nil}, {Leaderless, nil}, {Current, nil}}},
			[]string{"look", "look", "look"}},
		{"differs: updated once, the server's writing of it accepted", fakeAsset{looks: []look{{Differs, nil}, {Differs, nil}}},
			[]string{"look", "update", "look"}},
		{"lookup unanswered, then short of a leader: looked again", fakeAsset{looks: []look{{Missing, context.DeadlineExceeded}, {Missing, apiErr(jsClusterNotAvail)}, {Current, nil}}},
			[]string{"look", "look", "look"}},
		{"no suitable peers for a while: asked again", fakeAsset{
			looks:   []look{{Missing, nil}, {Missing, nil}, {Current, nil}},
			creates: []error{apiErr(jsClusterNoPeers), nil},
		}, []string{"look", "create", "look", "create", "look"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				if err := Ensure(t.Context(), tc.asset.asset()); err != nil {
					t.Fatalf("Ensure: %v", err)
				}
				if diff := cmp.Diff(tc.want, tc.asset.calls); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestEnsureGivesUp: an answer that asking again does not change ends
// Ensure at once; otherwise it asks until ctx ends, and its error names
// the asset, the server's last answer (or that nothing was answered) and
// the deadline, within ctx's time.
func TestEnsureGivesUp(t *testing.T) {
	tests := []struct {
		name       string
		asset      fakeAsset
		wantAnswer error
		wantErr    error // besides the answer
	}{
		{"refused", fakeAsset{looks: []look{{Missing, nil}}, creates: []error{apiErr(jsReplicasNotSupported)}},
			apiErr(jsReplicasNotSupported), nil},
		{"no suitable peers", fakeAsset{looks: []look{{Missing, nil}}, creates: []error{apiErr(jsClusterNoPeers)}},
			apiErr(jsClusterNoPeers), context.DeadlineExceeded},
		{"never led", fakeAsset{looks: []look{{Leaderless, nil}}}, ErrNoLeader, context.DeadlineExceeded},
		{"never answered", fakeAsset{looks: []look{{Missing, context.DeadlineExceeded}}}, nil, context.DeadlineExceeded},
		{"answered, then unanswered", fakeAsset{looks: []look{{Missing, apiErr(jsClusterNotAvail)}, {Missing, context.DeadlineExceeded}}},
			apiErr(jsClusterNotAvail), context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				start := time.Now()
				err := Ensure(ctx, tc.asset.asset())
				var ee *EnsureError
				if !errors.As(err, &ee) || ee.Kind != "stream" || ee.Name != "S" {
					t.Fatalf("Ensure: %v, want an *EnsureError naming stream S", err)
				}
				if took := time.Since(start); took > time.Minute {
					t.Errorf("gave up after %s, beyond ctx's minute", took)
				}
				var gotCode, wantCode jetstream.ErrorCode
				var ae *jetstream.APIError
				if errors.As(ee.Answer, &ae) {
					gotCode = ae.ErrorCode
				}
				if errors.As(tc.wantAnswer, &ae) {
					wantCode = ae.ErrorCode
					if !errors.As(err, &ae) || ae.ErrorCode != wantCode {
						t.Errorf("errors.As finds %v, want the server's answer %d", ae, wantCode)
					}
				}
				if (ee.Answer == nil) != (tc.wantAnswer == nil) || gotCode != wantCode ||
					(tc.wantAnswer != nil && wantCode == 0 && !errors.Is(err, tc.wantAnswer)) {
					t.Errorf("answer %v, want %v", ee.Answer, tc.wantAnswer)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
			})
		})
	}
}

// TestEnsurePatience: a request that goes unanswered is given up after a
// second, then two, four, and five at most, each followed by a lookup; an
// answer that comes is taken however late within that time.
func TestEnsurePatience(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var given []time.Duration
		looks := 0
		err := Ensure(t.Context(), Asset{
			Kind: "stream", Name: "S",
			Look: func(ctx context.Context) (State, error) {
				deadline, _ := ctx.Deadline()
				given = append(given, time.Until(deadline))
				if looks++; looks <= 5 {
					<-ctx.Done() // unanswered
					return Missing, ctx.Err()
				}
				time.Sleep(4 * time.Second) // answered late
				return Current, nil
			},
		})
		if err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
		if diff := cmp.Diff(want, given); diff != "" {
			t.Errorf("time given to each lookup (-want +got):\n%s", diff)
		}
	})
}

// TestEnsurePacesRepeatedCreates: a create that the server takes but a
// lookup then does not find (a server behind the others) is not repeated
// at once, round after round, but paced like any request asked again.
func TestEnsurePacesRepeatedCreates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		looks, creates := 0, 0
		err := Ensure(ctx, Asset{
			Kind: "stream", Name: "S",
			Look: func(context.Context) (State, error) {
				if looks++; looks > 100 {
					return Current, nil
				}
				return Missing, nil
			},
			Create: func(context.Context) error { creates++; return nil },
		})
		if !errors.Is(err, context.DeadlineExceeded) || creates > 10 {
			t.Errorf("%d creates in 3s, then %v; want a few, then the deadline", creates, err)
		}
	})
}
