package broker

import "github.com/ThreeDotsLabs/watermill/message"

// handlerStack is the stack a handler's goroutine is given at its start:
// what the enricher's and the notifier's handlers reach (a Jumio request
// through net/http and otelhttp, a JSON document decoded by reflection, a
// JetStream publish); with 32 KiB the enricher's still grew once, in
// otelhttp's metric attributes. Goroutine stacks start small and
// double when a call needs more, each time copying the stack and
// adjusting every frame on it; with the stack grown once where it is
// still shallow, the deep calls later find room.
const handlerStack = 64 << 10

// GrowStack grows the stack of the goroutine a message is handled on
// before the handler runs. Watermill's router starts a goroutine per
// message, so without it every message paid for the same stack growth
// again: under "kycflow bench e2e" at saturation, runtime.copystack was
// 6% of the enricher's CPU and 8% of the notifier's (pprof, 2 CPUs).
// The technique is CockroachDB's (util/growstack).
func GrowStack(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		growStack()
		return h(msg)
	}
}

// growStack has a frame of handlerStack/2 bytes, which the runtime meets
// by growing the stack to handlerStack in one step, while it holds only
// the router's few frames to copy. The frame is checked for room on entry
// and never written: zeroing it cost more than the copies it saves.
//
//go:noinline
func growStack() {
	if stackNeverWritten {
		var buf [handlerStack / 2]byte
		stackSink(buf[:])
	}
}

// stackNeverWritten is never set; the compiler cannot know that, so it
// keeps growStack's frame.
var stackNeverWritten bool

// stackSink keeps the compiler from dropping the frame.
//
//go:noinline
func stackSink(b []byte) { b[0]++ }
