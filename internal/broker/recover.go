package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ClassPanic is the dead-letter class (Kycflow-Error-Class) of a message
// whose handler panicked on the last delivery of its budget.
const ClassPanic = "panic"

// MaxStackHeaderLen caps the Kycflow-Error-Stack header of a dead letter.
const MaxStackHeaderLen = 4096

// PanicError is a handler's panic as an error. It holds no data from the
// message: Value is a runtime error's own text (index out of range, nil
// dereference: the runtime's words) or, for any other value, its type
// only, since a value may be built from personal data; Stack names the
// functions and lines, without the argument words a Go stack trace
// prints.
type PanicError struct {
	// Value describes what was panicked with.
	Value string
	// Stack is the panicking goroutine's stack from the panicking
	// function outwards, one "function file:line" frame per line.
	Stack string
}

func (e *PanicError) Error() string { return "handler panicked: " + e.Value }

// newPanicError describes the recovered value v and the stack of a
// debug.Stack call made in the deferred function that recovered it.
func newPanicError(v any, stack []byte) *PanicError {
	desc := fmt.Sprintf("panic(%T)", v)
	var re runtime.Error
	if err, ok := v.(error); ok && errors.As(err, &re) {
		desc = re.Error()
	}
	return &PanicError{Value: desc, Stack: cleanStack(stack)}
}

// frameArgs is the argument list a Go stack trace prints after a function
// name: words that can hold any value.
var frameArgs = regexp.MustCompile(`\([^()]*\)$`)

// cleanStack keeps, of a debug.Stack trace, the frames below the panic
// (the function that panicked first), each as "function file:line"
// without arguments or program counter offsets.
func cleanStack(stack []byte) string {
	lines := strings.Split(strings.TrimSpace(string(stack)), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "goroutine ") {
		lines = lines[1:]
	}
	var frames []string
	for i := 0; i+1 < len(lines); i += 2 {
		fn := frameArgs.ReplaceAllString(strings.TrimSpace(lines[i]), "")
		file, _, _ := strings.Cut(strings.TrimSpace(lines[i+1]), " ")
		if fn == "panic" {
			frames = frames[:0] // what came before is the recovering
			continue
		}
		frames = append(frames, fn+" "+file)
	}
	return strings.Join(frames, "\n")
}

// PanicPolicy says what becomes of a message whose handler panicked: it
// is redelivered after Backoff, like any retryable failure, and once a
// delivery at or past MaxAttempts panics, DeadLetter stores it and it is
// acked. A panic is never redelivered at once: a handler that panics on
// every delivery would spin.
type PanicPolicy struct {
	// MaxAttempts is the delivery (Attempt) from which a panic
	// dead-letters the message; 0 never does (the router's safety net).
	MaxAttempts int
	// Backoff is the redelivery delay after the attempt-th delivery
	// panicked (default: Backoff from 1s, doubling to 5m).
	Backoff func(attempt int) time.Duration
	// DeadLetter stores msg in JUMIO_DLQ with class ClassPanic and the
	// error's stack (DeadLetter.Stack), and returns nil once it is
	// stored; on an error (or a panic of its own) the message is
	// redelivered instead. Required with MaxAttempts.
	DeadLetter func(ctx context.Context, msg *message.Message, err *PanicError) error
	// OnPanic, when set, is told of each panic after it is settled
	// (for metrics): deadLettered says whether the message went to the
	// DLQ.
	OnPanic func(msg *message.Message, err *PanicError, deadLettered bool)
	// Logger receives one ERROR record per panic: the subject, stream
	// sequence, attempt, the panic's description and stack (default:
	// discard).
	Logger *slog.Logger
}

// Recoverer returns a handler middleware that turns a panic of the
// handler into a settlement by p: a delayed redelivery, or past the
// budget a dead letter. The handler's output, if any, is dropped; the
// router sees no error (it would redeliver at once and log the panic
// with the message's metadata).
func Recoverer(p PanicPolicy) message.HandlerMiddleware {
	if p.Backoff == nil {
		p.Backoff = func(attempt int) time.Duration { return Backoff(attempt, time.Second, 5*time.Minute) }
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) (out []*message.Message, err error) {
			defer func() {
				if v := recover(); v != nil {
					out, err = nil, nil
					p.settle(msg, newPanicError(v, debug.Stack()))
				}
			}()
			return h(msg)
		}
	}
}

// settle dead-letters msg once its attempt reaches the budget, else asks
// for its redelivery after the back-off.
func (p PanicPolicy) settle(msg *message.Message, pe *PanicError) {
	attempt := Attempt(msg)
	log := p.Logger.With("subject", Subject(msg), "stream_seq", StreamSeq(msg), "attempt", attempt, "panic", pe.Value, "stack", pe.Stack)
	if p.MaxAttempts > 0 && attempt >= p.MaxAttempts && p.DeadLetter != nil {
		err := p.deadLetter(msg, pe)
		if err == nil {
			msg.Ack()
			log.Error("handler panicked on every delivery of the budget; message dead-lettered", "class", ClassPanic)
			if p.OnPanic != nil {
				p.OnPanic(msg, pe, true)
			}
			return
		}
		log = log.With("dead_letter_error", err.Error())
	}
	d := p.Backoff(max(attempt, 1))
	Redeliver(msg, d)
	log.Error("handler panicked; message redelivered later", "delay", d)
	if p.OnPanic != nil {
		p.OnPanic(msg, pe, false)
	}
}

// deadLetter calls DeadLetter, turning a panic of its own into an error.
func (p PanicPolicy) deadLetter(msg *message.Message, pe *PanicError) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("broker: dead letter: %w", newPanicError(v, debug.Stack()))
		}
	}()
	return p.DeadLetter(msg.Context(), msg, pe)
}
