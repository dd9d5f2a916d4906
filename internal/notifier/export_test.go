package notifier

import "time"

// SetDisabledDelay sets the redelivery delay of a disabled route's
// messages for one test.
func SetDisabledDelay(d time.Duration) (restore func()) {
	old := disabledDelay
	disabledDelay = d
	return func() { disabledDelay = old }
}

// SetHook makes n call hook with the route's name and the event id in
// each route's handler before the delivery.
func SetHook(n *Notifier, hook func(route, eventID string)) { n.hook = hook }
