package enricher

// SetHook makes e call hook with the event id of each callback it is
// about to retrieve, in the handler (a panic there is the handler's).
func SetHook(e *Enricher, hook func(eventID string)) { e.hook = hook }
