package notifier

import "time"

// SetDisabledDelay sets the redelivery delay of a disabled route's
// messages for one test.
func SetDisabledDelay(d time.Duration) (restore func()) {
	old := disabledDelay
	disabledDelay = d
	return func() { disabledDelay = old }
}
