package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// scan selects messages of one stream: those on any of filters (none: the
// whole stream) from a start sequence or time.
type scan struct {
	stream  string
	filters []string
	// fromSeq and since choose the first message; zero: the stream's
	// first.
	fromSeq uint64
	since   time.Time
}

func (sc scan) consumerConfig() jetstream.OrderedConsumerConfig {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: sc.filters, DeliverPolicy: jetstream.DeliverAllPolicy,
		// The server removes the consumer soon after the command ends.
		InactiveThreshold: 10 * time.Second}
	switch {
	case sc.fromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, sc.fromSeq
	case !sc.since.IsZero():
		t := sc.since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	return cfg
}

// scanBatch is how many messages one fetch asks for.
const scanBatch = 256

// each calls fn for every message sc selects that was stored when each
// started, in stream order, through an ordered consumer (nothing is
// acked or changed). Messages stored meanwhile (a replay writing into the
// stream it reads) are not visited. It stops at fn's first error.
func each(ctx context.Context, js jetstream.JetStream, sc scan, fn func(m jetstream.Msg, md *jetstream.MsgMetadata) error) error {
	cctx, cancel := ctxCall(ctx)
	st, err := js.Stream(cctx, sc.stream)
	if err != nil {
		cancel()
		return fmt.Errorf("stream %s: %w", sc.stream, err)
	}
	info, err := st.Info(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", sc.stream, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	oc, err := st.OrderedConsumer(ctx, sc.consumerConfig())
	if err != nil {
		return fmt.Errorf("stream %s: %w", sc.stream, err)
	}
	return visit(ctx, sc.stream, oc, info.State.LastSeq, fn)
}

// visit calls fn for the messages oc delivers up to stream sequence last.
// A fetch that no one answers (a cluster's stream without a leader for a
// moment) is asked again as patientJS asks (the ordered consumer resumes
// after the last message it delivered).
func visit(ctx context.Context, stream string, oc jetstream.Consumer, last uint64, fn func(m jetstream.Msg, md *jetstream.MsgMetadata) error) error {
	wait := patience(ctx)
	for {
		batch, err := oc.FetchNoWait(scanBatch)
		if err != nil {
			if unanswered(err) && waitOut(ctx, wait) {
				continue
			}
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			if done {
				continue // drain the batch
			}
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("stream %s: %w", stream, err)
			}
			if md.Sequence.Stream > last {
				done = true
				continue
			}
			if err := fn(m, md); err != nil {
				return err
			}
			if md.NumPending == 0 || md.Sequence.Stream == last {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			if !done && unanswered(err) && waitOut(ctx, wait) {
				continue
			}
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		if done || n == 0 {
			return ctx.Err()
		}
		wait.Reset()
	}
}

// follow calls fn for every message sc selects, then for each new one as
// it is stored, until ctx ends (nil) or fn fails.
func follow(ctx context.Context, js jetstream.JetStream, sc scan, fn func(m jetstream.Msg, md *jetstream.MsgMetadata) error) error {
	cctx, cancel := ctxCall(ctx)
	st, err := js.Stream(cctx, sc.stream)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", sc.stream, err)
	}
	oc, err := st.OrderedConsumer(ctx, sc.consumerConfig())
	if err != nil {
		return fmt.Errorf("stream %s: %w", sc.stream, err)
	}
	it, err := oc.Messages()
	if err != nil {
		return fmt.Errorf("stream %s: %w", sc.stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("stream %s: %w", sc.stream, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("stream %s: %w", sc.stream, err)
		}
		if err := fn(m, md); err != nil {
			return err
		}
	}
}

// errStop ends each or follow early without an error.
var errStop = errors.New("stop")
