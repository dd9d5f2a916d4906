package broker

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/nats-io/nats.go/jetstream"
)

// TestRetryUnanswered: a request that goes unanswered, or meets a cluster
// short of peers or of a leader, is asked again until it succeeds; any
// other error is returned at once, and so is the last error once ctx ends.
func TestRetryUnanswered(t *testing.T) {
	apiErr := func(code jetstream.ErrorCode) error {
		return &jetstream.APIError{Code: 400, ErrorCode: code, Description: "test"}
	}
	tests := []struct {
		name      string
		err       error // what every attempt but the last returns
		wantCalls int
		wantErr   bool
	}{
		{"unanswered", context.DeadlineExceeded, 3, false},
		{"no suitable peers (a server restarting)", apiErr(jsClusterNoPeers), 3, false},
		{"JetStream temporarily unavailable", apiErr(jsClusterNotAvail), 3, false},
		{"no leader", apiErr(jsClusterNotLeader), 3, false},
		{"replicas on a single server", apiErr(jsReplicasNotSupported), 1, true},
		{"stream not found", jetstream.ErrStreamNotFound, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				err := RetryUnanswered(t.Context(), func(context.Context) error {
					calls++
					if calls < 3 {
						return tc.err
					}
					return nil
				})
				if calls != tc.wantCalls || (err != nil) != tc.wantErr {
					t.Errorf("%d calls, error %v; want %d calls, error %v", calls, err, tc.wantCalls, tc.wantErr)
				}
				if tc.wantErr && !errors.Is(err, tc.err) {
					t.Errorf("error %v, want %v", err, tc.err)
				}
			})
		})
	}
	t.Run("gives up when ctx ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			calls := 0
			err := RetryUnanswered(ctx, func(context.Context) error {
				if calls++; calls == 5 {
					cancel()
				}
				return apiErr(jsClusterNoPeers)
			})
			var ae *jetstream.APIError
			if !errors.As(err, &ae) || ae.ErrorCode != jsClusterNoPeers || calls != 5 {
				t.Errorf("%d calls, error %v; want the cluster's error after the 5th", calls, err)
			}
		})
	})
}
