package enricher

import "github.com/ThreeDotsLabs/watermill/message"

// SetHook makes e call hook with the event id of each callback it is
// about to retrieve, in the handler (a panic there is the handler's).
func SetHook(e *Enricher, hook func(eventID string)) { e.hook = hook }

// WrapPublisher wraps the publisher e stores its results with.
func WrapPublisher(e *Enricher, wrap func(message.Publisher) message.Publisher) { e.pub = wrap(e.pub) }

// SetMarkFault makes e's migration marks fail with fault's error while it
// returns one (the migration bucket refusing writes).
func SetMarkFault(e *Enricher, fault func() error) { e.markFault = fault }
