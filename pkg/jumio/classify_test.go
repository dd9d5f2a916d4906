package jumio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/jumio"
)

func TestClassify(t *testing.T) {
	api := func(status int, retryAfter time.Duration) error {
		return fmt.Errorf("enrich: %w", &jumio.APIError{Endpoint: jumio.EndpointWorkflowDetails, Status: status, RetryAfter: retryAfter})
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		err  error
		want jumio.Retry
	}{
		{"nil", nil, jumio.Retry{Kind: jumio.Permanent}},
		{"400", api(400, 0), jumio.Retry{Kind: jumio.Permanent}},
		{"401", api(401, 0), jumio.Retry{Kind: jumio.Permanent}},
		{"403", api(403, 0), jumio.Retry{Kind: jumio.Permanent}},
		{"404", api(404, 0), jumio.Retry{Kind: jumio.Permanent}},
		{"404 at the callback", jumio.NotReadyIfRecent(api(404, 0), now, now, time.Hour), jumio.Retry{Kind: jumio.RetryAfter, After: 40 * time.Second}},
		{"404 45s after", jumio.NotReadyIfRecent(api(404, 0), now.Add(-45*time.Second), now, time.Hour), jumio.Retry{Kind: jumio.RetryAfter, After: 55 * time.Second}},
		{"404 out of the window", jumio.NotReadyIfRecent(api(404, 0), now.Add(-2*time.Hour), now, time.Hour), jumio.Retry{Kind: jumio.Permanent}},
		// Without a callback time there is nothing to count from: a 404
		// stays permanent rather than "not ready" on every retry.
		{"404 without a callback time", jumio.NotReadyIfRecent(api(404, 0), time.Time{}, now, time.Hour), jumio.Retry{Kind: jumio.Permanent}},
		{"408", api(408, 0), jumio.Retry{Kind: jumio.RetryNow}},
		{"409", api(409, 0), jumio.Retry{Kind: jumio.Permanent}},
		{"429", api(429, 0), jumio.Retry{Kind: jumio.RetryAfter, After: time.Second}},
		{"429 Retry-After", api(429, 30*time.Second), jumio.Retry{Kind: jumio.RetryAfter, After: 30 * time.Second}},
		{"500", api(500, 0), jumio.Retry{Kind: jumio.RetryNow}},
		{"503", api(503, 0), jumio.Retry{Kind: jumio.RetryNow}},
		{"503 Retry-After", api(503, 3*time.Second), jumio.Retry{Kind: jumio.RetryAfter, After: 3 * time.Second}},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), jumio.Retry{Kind: jumio.RetryNow}},
		{"canceled", context.Canceled, jumio.Retry{Kind: jumio.RetryNow}},
		{"connection", &net.OpError{Op: "dial", Err: errors.New("refused")}, jumio.Retry{Kind: jumio.RetryNow}},
		{"eof", io.ErrUnexpectedEOF, jumio.Retry{Kind: jumio.RetryNow}},
		{"malformed", fmt.Errorf("x: %w", jumio.ErrMalformedResponse), jumio.Retry{Kind: jumio.RetryNow}},
		{"too large", fmt.Errorf("x: %w", jumio.ErrTooLarge), jumio.Retry{Kind: jumio.Permanent}},
		{"invalid", fmt.Errorf("x: %w", jumio.ErrInvalidArgument), jumio.Retry{Kind: jumio.Permanent}},
		{"not configured", fmt.Errorf("x: %w", jumio.ErrNotConfigured), jumio.Retry{Kind: jumio.Permanent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := jumio.Classify(tc.err); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAPIErrorIs(t *testing.T) {
	all := []error{jumio.ErrNotFound, jumio.ErrUnauthorized, jumio.ErrForbidden, jumio.ErrRateLimited, jumio.ErrServer, jumio.ErrBadRequest, jumio.ErrNotReady}
	for _, tc := range []struct {
		status int
		want   error
	}{{404, jumio.ErrNotFound}, {401, jumio.ErrUnauthorized}, {403, jumio.ErrForbidden}, {429, jumio.ErrRateLimited},
		{500, jumio.ErrServer}, {502, jumio.ErrServer}, {400, jumio.ErrBadRequest}, {422, jumio.ErrBadRequest}} {
		err := error(&jumio.APIError{Status: tc.status})
		for _, s := range all {
			if got := errors.Is(err, s); got != (s == tc.want) {
				t.Errorf("%d: errors.Is(%v) = %v", tc.status, s, got)
			}
		}
	}
}

func TestAPIErrorStringHasNoDetail(t *testing.T) {
	err := &jumio.APIError{Endpoint: jumio.EndpointAccountCreate, Status: 400, Title: "Bad Request",
		Detail: "userReference JANE DOE is invalid", Code: "1234", RequestID: "req-1"}
	if s := err.Error(); strings.Contains(s, "JANE") || !strings.Contains(s, "req-1") || !strings.Contains(s, "1234") {
		t.Errorf("Error() = %q: want the code and request id, never the detail", s)
	}
}

func TestNotReadySchedule(t *testing.T) {
	var got []time.Duration
	for n := 0; n <= 11; n++ {
		got = append(got, jumio.NotReadySchedule.Delay(n))
	}
	s := time.Second
	want := []time.Duration{40 * s, 40 * s, 60 * s, 100 * s, 160 * s, 240 * s, 340 * s, 460 * s, 600 * s, 760 * s, 940 * s, 940 * s}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Delay(0…11) (-want +got):\n%s", diff)
	}
	if got := jumio.NotReadySchedule.Total(); got != 3700*s {
		t.Errorf("Total = %v, want 3700s", got)
	}
	for _, tc := range []struct{ elapsed, want time.Duration }{
		{0, 40 * s}, {39 * s, s}, {40 * s, 60 * s}, {100 * s, 100 * s}, {3699 * s, s}, {3700 * s, 940 * s}, {10 * time.Hour, 940 * s},
	} {
		if got := jumio.NotReadySchedule.Next(tc.elapsed); got != tc.want {
			t.Errorf("Next(%v) = %v, want %v", tc.elapsed, got, tc.want)
		}
	}
}

func TestNotReadyIfRecentLeavesOtherErrors(t *testing.T) {
	now := time.Now()
	for _, err := range []error{nil, &jumio.APIError{Status: 500}, context.Canceled} {
		if got := jumio.NotReadyIfRecent(err, now, now, time.Hour); got != err {
			t.Errorf("NotReadyIfRecent(%v) = %v, want it unchanged", err, got)
		}
	}
}
