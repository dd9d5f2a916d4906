package cli

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// noResponderWait is how long an operator command waits out JetStream
// answering nothing: in a cluster, a stream without a leader for a moment
// (an election) leaves its requests without a responder.
const noResponderWait = 15 * time.Second

// patientJS is an operator command's JetStream client: a stream, bucket
// or consumer lookup answered by no one is asked again, backing off, for
// up to noResponderWait (or until ctx ends), instead of failing the
// command; and so are its publishes and the requests sent through the
// stream, bucket and consumer handles it returns. A request that no one answered was handled by no
// one, so asking again is safe even for a delete or a purge.
type patientJS struct{ jetstream.JetStream }

func (p patientJS) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	st, err := untilAnswered(ctx, func() (jetstream.Stream, error) { return p.JetStream.Stream(ctx, name) })
	if err != nil {
		return nil, err
	}
	return patientStream{st}, nil
}

func (p patientJS) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := untilAnswered(ctx, func() (jetstream.KeyValue, error) { return p.JetStream.KeyValue(ctx, bucket) })
	if err != nil {
		return nil, err
	}
	return patientKeyValue{kv}, nil
}

func (p patientJS) Consumer(ctx context.Context, stream, name string) (jetstream.Consumer, error) {
	c, err := untilAnswered(ctx, func() (jetstream.Consumer, error) { return p.JetStream.Consumer(ctx, stream, name) })
	if err != nil {
		return nil, err
	}
	return patientConsumer{c}, nil
}

// PublishMsg stores msg, publishing again while no stream answers (nats.go
// itself tries twice, a quarter of a second apart: less than an election
// takes). A publish no one answered stored nothing; the commands' messages
// carry a Nats-Msg-Id besides.
func (p patientJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return untilAnswered(ctx, func() (*jetstream.PubAck, error) { return p.JetStream.PublishMsg(ctx, msg, opts...) })
}

// patientStream is a stream handle of patientJS: the requests operator
// commands send through it are asked again while no one answers them.
type patientStream struct{ jetstream.Stream }

func (s patientStream) Info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	return untilAnswered(ctx, func() (*jetstream.StreamInfo, error) { return s.Stream.Info(ctx, opts...) })
}

func (s patientStream) GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error) {
	return untilAnswered(ctx, func() (*jetstream.RawStreamMsg, error) { return s.Stream.GetMsg(ctx, seq, opts...) })
}

func (s patientStream) GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	return untilAnswered(ctx, func() (*jetstream.RawStreamMsg, error) { return s.Stream.GetLastMsgForSubject(ctx, subject) })
}

func (s patientStream) DeleteMsg(ctx context.Context, seq uint64) error {
	return answered(ctx, func() error { return s.Stream.DeleteMsg(ctx, seq) })
}

func (s patientStream) Purge(ctx context.Context, opts ...jetstream.StreamPurgeOpt) error {
	return answered(ctx, func() error { return s.Stream.Purge(ctx, opts...) })
}

func (s patientStream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	return untilAnswered(ctx, func() (jetstream.Consumer, error) { return s.Stream.OrderedConsumer(ctx, cfg) })
}

// ListConsumers lists the stream's consumers, listing again from the
// start while a page goes unanswered.
func (s patientStream) ListConsumers(ctx context.Context) jetstream.ConsumerInfoLister {
	infos, err := untilAnswered(ctx, func() ([]*jetstream.ConsumerInfo, error) {
		l := s.Stream.ListConsumers(ctx)
		var infos []*jetstream.ConsumerInfo
		for ci := range l.Info() {
			infos = append(infos, ci)
		}
		return infos, l.Err()
	})
	return listedConsumers{infos: infos, err: err}
}

// listedConsumers is a consumer listing already read.
type listedConsumers struct {
	infos []*jetstream.ConsumerInfo
	err   error
}

func (l listedConsumers) Info() <-chan *jetstream.ConsumerInfo {
	ch := make(chan *jetstream.ConsumerInfo, len(l.infos))
	for _, ci := range l.infos {
		ch <- ci
	}
	close(ch)
	return ch
}

func (l listedConsumers) Err() error { return l.err }

// patientKeyValue is a bucket handle of patientJS: its reads and writes
// are asked again while no one answers them (a write no one answered was
// not stored, so a create or an update on a revision is asked again as it
// was).
type patientKeyValue struct{ jetstream.KeyValue }

func (kv patientKeyValue) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	return untilAnswered(ctx, func() (jetstream.KeyValueEntry, error) { return kv.KeyValue.Get(ctx, key) })
}

func (kv patientKeyValue) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return untilAnswered(ctx, func() (uint64, error) { return kv.KeyValue.Put(ctx, key, value) })
}

func (kv patientKeyValue) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	return untilAnswered(ctx, func() (uint64, error) { return kv.KeyValue.Create(ctx, key, value, opts...) })
}

func (kv patientKeyValue) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	return untilAnswered(ctx, func() (uint64, error) { return kv.KeyValue.Update(ctx, key, value, revision) })
}

func (kv patientKeyValue) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return answered(ctx, func() error { return kv.KeyValue.Delete(ctx, key, opts...) })
}

func (kv patientKeyValue) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return answered(ctx, func() error { return kv.KeyValue.Purge(ctx, key, opts...) })
}

// patientConsumer is a consumer handle of patientJS: its information is
// asked for again while no one answers.
type patientConsumer struct{ jetstream.Consumer }

func (c patientConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	return untilAnswered(ctx, func() (*jetstream.ConsumerInfo, error) { return c.Consumer.Info(ctx) })
}

// untilAnswered calls request until it gets an answer (see patientJS and
// unanswered).
//
// A stream, bucket or consumer "not found" that follows unanswered
// requests is asked again for restoreGrace too: JetStream that has just
// come up answers its API before it has restored its streams from the
// store. Without unanswered requests first, "not found" is believed at
// once.
func untilAnswered[T any](ctx context.Context, request func() (T, error)) (T, error) {
	sawNone := false
	var firstAnswer time.Time
	return backoff.RetryWithData(func() (T, error) {
		v, err := request()
		switch {
		case err == nil:
		case unanswered(err):
			sawNone = true
		case sawNone && restoring(err):
			if firstAnswer.IsZero() {
				firstAnswer = time.Now()
			}
			if time.Since(firstAnswer) >= restoreGrace {
				return v, backoff.Permanent(err)
			}
		default:
			return v, backoff.Permanent(err)
		}
		return v, err
	}, patience(ctx))
}

// restoreGrace is how long a "not found" right after JetStream came up is
// asked again.
const restoreGrace = 2 * time.Second

// restoring reports whether err is a "not found" of a stream, bucket or
// consumer, which JetStream answers while it restores them.
func restoring(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrConsumerNotFound)
}

// unanswered reports whether err says that no one answered a request:
// nats.ErrNoResponders, or jetstream.ErrNoStreamResponse, which is what a
// publish reports once nats.go's own tries found no responder.
func unanswered(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// patience is how an unanswered request is asked again: backing off from
// a tenth of a second to two, for up to noResponderWait, or until ctx
// ends.
func patience(ctx context.Context) backoff.BackOff {
	return backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(noResponderWait)), ctx)
}

// waitOut waits b's next interval and reports whether to ask again: false
// once b gives up or ctx ends.
func waitOut(ctx context.Context, b backoff.BackOff) bool {
	d := b.NextBackOff()
	if d == backoff.Stop {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// answered is untilAnswered for a request that returns only an error.
func answered(ctx context.Context, request func() error) error {
	_, err := untilAnswered(ctx, func() (struct{}, error) { return struct{}{}, request() })
	return err
}
