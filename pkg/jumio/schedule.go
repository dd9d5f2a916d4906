package jumio

import "time"

// Schedule is a list of retry delays: attempt n (1-based) waits Delays[n-1].
type Schedule []time.Duration

// NotReadySchedule is Jumio's recommended retrieval back-off for data that
// is not available yet: retry after 40, 60, 100, 160, 240, 340, 460, 600,
// 760 and 940 seconds, at most 10 consecutive attempts.
// https://documentation.jumio.ai/docs/developer-resources/retrieval
var NotReadySchedule = Schedule{
	40 * time.Second, 60 * time.Second, 100 * time.Second, 160 * time.Second, 240 * time.Second,
	340 * time.Second, 460 * time.Second, 600 * time.Second, 760 * time.Second, 940 * time.Second,
}

// Delay returns the delay before retry attempt n (1-based): the first
// entry for n < 1, the last for n past the end.
func (s Schedule) Delay(n int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(max(n, 1), len(s))-1]
}

// Total is the sum of the delays.
func (s Schedule) Total() time.Duration {
	var t time.Duration
	for _, d := range s {
		t += d
	}
	return t
}

// Next returns the time from elapsed until the next point of the schedule,
// the points lying at the running sums of the delays (40 s, 100 s, 200 s,
// … after the start). Past the last point it returns the last delay.
func (s Schedule) Next(elapsed time.Duration) time.Duration {
	var at time.Duration
	for _, d := range s {
		at += d
		if at > elapsed {
			return at - elapsed
		}
	}
	return s.Delay(len(s))
}
