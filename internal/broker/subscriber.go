package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Errors of the Subscriber and Publisher.
var (
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrClosed is returned by Subscribe after Close.
	ErrClosed = errors.New("subscriber closed")
	// ErrTopicConflict is returned by Subscribe when the topic asks for
	// other subject filters than the durable already has: one durable
	// consumer has one set of filters.
	ErrTopicConflict = errors.New("topic conflicts with the durable's subject filters")
)

// SubscriberConfig configures a Subscriber: one durable pull consumer on
// one stream.
type SubscriberConfig struct {
	// Stream is the stream to read (events.StreamCallbacks, …). Required.
	Stream string
	// Durable names the durable consumer. Required. Names are API: the
	// server keeps each durable's position, replicas of a service that
	// share a durable split its messages, and renaming a durable creates a
	// new consumer that starts from DeliverPolicy (by default processing
	// the whole stream again).
	Durable string
	// Description is shown by "nats consumer info".
	Description string
	// FilterSubjects restricts the consumer to these subjects. When empty,
	// the topic given to Subscribe is the filter (an empty topic: the whole
	// stream).
	FilterSubjects []string
	// AckWait is how long the server waits for an ack before it redelivers
	// a message (default 30s). A message being handled is kept alive with
	// InProgress every InProgressInterval, so AckWait only bounds how long
	// a message is lost to a crashed process.
	AckWait time.Duration
	// InProgressInterval is how often a message that is being handled is
	// reported in progress (default AckWait/3; must be below AckWait).
	InProgressInterval time.Duration
	// MaxAckPending caps the messages the server has delivered and not yet
	// seen acked, over all replicas sharing the durable (default 1000).
	// Messages waiting for a delayed redelivery count too: when many wait,
	// raise it, or the consumer stalls until some are due.
	MaxAckPending int
	// MaxDeliver caps the deliveries of one message. Default -1
	// (unlimited): kycflow services count Attempt and dead-letter
	// themselves, whereas a message past MaxDeliver would stay in the
	// stream, neither handled nor dead-lettered.
	MaxDeliver int
	// Concurrency is how many messages one Subscribe holds at once, from
	// fetch to ack (default 16). A message that waits for a slow endpoint
	// holds one slot; the others keep flowing. Order is not guaranteed.
	Concurrency int
	// DeliverPolicy, OptStartSeq and OptStartTime choose where a new
	// durable starts (default: the first message of the stream). They
	// apply when the durable is created only; an existing durable keeps
	// its position. Replay tools use them with a fresh durable.
	DeliverPolicy jetstream.DeliverPolicy
	OptStartSeq   uint64
	OptStartTime  *time.Time
	// AckTimeout bounds the retries of an ack the connection cannot take
	// (disconnected, its reconnect buffer full; default 5s). A failed ack
	// is logged and counted; the server redelivers the message after
	// AckWait.
	AckTimeout time.Duration
	// DrainTimeout bounds how long stopping waits for handlers to settle
	// the messages they hold (default 15s). Messages still unsettled then
	// are released (nacked for immediate redelivery, never acked) and
	// their contexts cancelled. Keep it below the router's CloseTimeout.
	DrainTimeout time.Duration
	// PullExpiry is how long one pull request waits for messages (default
	// 2s); a lost server is noticed within about that time (longer pulls,
	// from 10s, get idle heartbeats). Stopping lets the last pull request
	// run out rather than cut it, since messages on their way would come
	// back only after AckWait, so an idle subscription takes up to
	// PullExpiry to stop.
	PullExpiry time.Duration
	// ConsumerConfig, when set, adjusts the consumer configuration last,
	// before it is created or updated. A durable that exists is then
	// updated at every Subscribe, whatever it adjusts.
	ConsumerConfig func(*jetstream.ConsumerConfig)
	// SetupTimeout bounds how long Subscribe waits for the durable to be
	// created or updated (Ensure) before it fails with an *EnsureError
	// naming it and what JetStream last answered (default
	// DefaultSetupTimeout).
	SetupTimeout time.Duration
	// Logger receives failures and state changes, never a line per
	// message above debug (default: discard).
	Logger *slog.Logger
	// MeterProvider receives kycflow_broker_settled_messages_total and
	// kycflow_broker_in_flight_messages (default: none).
	MeterProvider metric.MeterProvider

	// topicStreams makes every topic its own stream (tests only, see
	// export_test.go).
	topicStreams bool
}

func (c *SubscriberConfig) setDefaults() {
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.InProgressInterval == 0 {
		c.InProgressInterval = c.AckWait / 3
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 1000
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = -1
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 5 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 15 * time.Second
	}
	if c.PullExpiry == 0 {
		c.PullExpiry = 2 * time.Second
	}
	if c.SetupTimeout == 0 {
		c.SetupTimeout = DefaultSetupTimeout
	}
	c.Logger, c.MeterProvider = observability(c.Logger, c.MeterProvider)
}

// Validate reports the first configuration error, wrapping
// ErrInvalidConfig.
func (c SubscriberConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("broker: subscriber: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Stream == "" && !c.topicStreams:
		return bad("stream is required")
	case !validName(c.Durable):
		return bad("durable %q is not a valid consumer name", c.Durable)
	case c.AckWait <= 0:
		return bad("ack wait must be positive")
	case c.InProgressInterval <= 0 || c.InProgressInterval >= c.AckWait:
		return bad("in-progress interval must be positive and below the ack wait")
	case c.Concurrency < 1:
		return bad("concurrency must be at least 1")
	case c.MaxAckPending != -1 && c.MaxAckPending < c.Concurrency:
		return bad("max ack pending %d is below the concurrency %d", c.MaxAckPending, c.Concurrency)
	case c.MaxDeliver != -1 && c.MaxDeliver < 1:
		return bad("max deliver must be -1 (unlimited) or at least 1")
	case c.AckTimeout <= 0 || c.DrainTimeout <= 0:
		return bad("ack and drain timeouts must be positive")
	case c.PullExpiry < 100*time.Millisecond:
		return bad("pull expiry must be at least 100ms")
	case c.DeliverPolicy == jetstream.DeliverByStartSequencePolicy && c.OptStartSeq == 0:
		return bad("deliver by start sequence needs a start sequence")
	case c.DeliverPolicy == jetstream.DeliverByStartTimePolicy && c.OptStartTime == nil:
		return bad("deliver by start time needs a start time")
	}
	for _, f := range c.FilterSubjects {
		if f == "" {
			return bad("empty filter subject")
		}
	}
	return nil
}

// validName reports whether s can name a stream or consumer.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*>/\\ \t\r\n")
}

// Subscriber is a Watermill message.Subscriber over a durable JetStream
// pull consumer, with explicit acks (sent, not awaited), per-message
// delayed redelivery (SetRetryDelay), delivery attempt and stream sequence
// exposed to handlers (Attempt, StreamSeq), many messages in flight, and
// a bounded drain on Close. It is safe for concurrent use.
//
// The topic given to Subscribe is the consumer's subject filter: "" means
// FilterSubjects (or the whole stream), any other topic must equal the
// filters already in use. Several Subscribe calls on one Subscriber, or
// Subscribers in several processes, with the same durable share its
// messages.
//
// Message flow: a message is fetched only when one of Concurrency slots is
// free, handed to the output channel, and kept alive with InProgress until
// the handler acks or nacks it. Ack sends the ack without waiting for the
// server's confirmation: a lost ack is a redelivery after AckWait, never a
// loss. Nack redelivers it at once, after RetryDelay when set, or
// never (Term) when Terminate was used. msg.UUID is the Nats-Msg-Id header
// (kycflow's deterministic event ids), or "<stream>:<sequence>" when the
// message has none; every NATS header is a metadata key (first value).
type Subscriber struct {
	cfg     SubscriberConfig
	js      jetstream.JetStream
	log     *slog.Logger
	metrics subscriberMetrics

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	filters map[string][]string // stream → filters of the first Subscribe
	wg      sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber reading through js. It creates
// nothing until Subscribe or SubscribeInitialize.
func NewSubscriber(cfg SubscriberConfig, js jetstream.JetStream) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if js == nil {
		return nil, fmt.Errorf("broker: subscriber: %w: no JetStream context", ErrInvalidConfig)
	}
	m, err := newSubscriberMetrics(cfg.MeterProvider)
	if err != nil {
		return nil, err
	}
	return &Subscriber{
		cfg:     cfg,
		js:      js,
		log:     cfg.Logger.With("consumer", cfg.Durable),
		metrics: m,
		closing: make(chan struct{}),
		filters: map[string][]string{},
	}, nil
}

// Subscribe creates or updates the durable consumer and starts reading.
// Messages arrive on the returned channel until ctx is cancelled or the
// Subscriber is closed; then fetching stops, messages not yet handed out
// are released, handlers get DrainTimeout to settle the ones they hold,
// and the channel is closed once every message is settled or released.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	stream, filters, err := s.target(topic)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("broker: subscribe %s: %w", topic, ErrClosed)
	}
	s.wg.Add(1)
	s.mu.Unlock()

	cons, err := s.ensureConsumer(ctx, stream, filters)
	if err != nil {
		s.wg.Done()
		return nil, err
	}
	sub := &subscription{
		s:        s,
		stream:   stream,
		filters:  filters,
		cons:     cons,
		out:      make(chan *message.Message),
		stopping: make(chan struct{}),
		released: make(chan struct{}),
		slots:    make(chan struct{}, s.cfg.Concurrency),
		msgBase:  context.WithoutCancel(ctx),
		attrs: []attribute.KeyValue{
			attribute.String("stream", stream),
			attribute.String("consumer", s.cfg.Durable),
		},
	}
	go sub.run(ctx)
	return sub.out, nil
}

// SubscribeInitialize creates or updates the durable consumer for topic
// without reading from it, so that messages published from now on are
// kept for it. Watermill calls it in tests; services may call it at start.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.cfg.topicStreams {
		_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:     topic,
			Subjects: []string{topic},
			Storage:  jetstream.MemoryStorage,
		})
		if err != nil {
			return fmt.Errorf("broker: create stream %s: %w", topic, err)
		}
	}
	stream, filters, err := s.target(topic)
	if err != nil {
		return err
	}
	_, err = s.ensureConsumer(ctx, stream, filters)
	return err
}

// Close stops every subscription as a cancelled context does and waits
// until all are drained: at most DrainTimeout plus AckTimeout. It is
// idempotent; every call waits.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// target returns the stream and subject filters for topic.
func (s *Subscriber) target(topic string) (string, []string, error) {
	if s.cfg.topicStreams {
		return topic, nil, nil
	}
	filters := s.cfg.FilterSubjects
	if topic != "" {
		filters = []string{topic}
	}
	if len(s.cfg.FilterSubjects) > 0 && !slices.Equal(filters, s.cfg.FilterSubjects) {
		return "", nil, fmt.Errorf("broker: subscribe %q: %w %v", topic, ErrTopicConflict, s.cfg.FilterSubjects)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.filters[s.cfg.Stream]; ok && !slices.Equal(prev, filters) {
		return "", nil, fmt.Errorf("broker: subscribe %q: %w %v", topic, ErrTopicConflict, prev)
	}
	s.filters[s.cfg.Stream] = filters
	return s.cfg.Stream, filters, nil
}

// consumerConfig is the configuration the durable is created or updated
// with.
func (s *Subscriber) consumerConfig(filters []string) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       s.cfg.Durable,
		Description:   s.cfg.Description,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver,
		MaxAckPending: s.cfg.MaxAckPending,
		DeliverPolicy: s.cfg.DeliverPolicy,
		OptStartSeq:   s.cfg.OptStartSeq,
		OptStartTime:  s.cfg.OptStartTime,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
	switch len(filters) {
	case 0:
	case 1:
		cc.FilterSubject = filters[0]
	default:
		cc.FilterSubjects = slices.Clone(filters)
	}
	return cc
}

// ensureConsumer creates the durable or updates it to the configuration,
// with Ensure, within SetupTimeout. An existing durable keeps its start
// position: the server refuses to change it, and moving it would skip or
// repeat messages.
func (s *Subscriber) ensureConsumer(ctx context.Context, stream string, filters []string) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SetupTimeout)
	defer cancel()
	want := func(existing *jetstream.ConsumerConfig) jetstream.ConsumerConfig {
		cc := s.consumerConfig(filters)
		if existing != nil {
			cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = existing.DeliverPolicy, existing.OptStartSeq, existing.OptStartTime
		}
		if s.cfg.ConsumerConfig != nil {
			s.cfg.ConsumerConfig(&cc)
		}
		return cc
	}
	var c jetstream.Consumer
	var have *jetstream.ConsumerConfig
	err := Ensure(ctx, Asset{
		Kind: "consumer", Name: stream + "/" + s.cfg.Durable,
		Look: func(ctx context.Context) (State, error) {
			var err error
			c, err = s.js.Consumer(ctx, stream, s.cfg.Durable)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				have = nil
				return Missing, nil
			}
			if err != nil {
				return Missing, err
			}
			info := c.CachedInfo()
			have = &info.Config
			return state(info.Cluster, s.cfg.ConsumerConfig != nil || len(consumerDrift(info.Config, want(have))) > 0), nil
		},
		Create: func(ctx context.Context) error {
			_, err := s.js.CreateConsumer(ctx, stream, want(nil))
			return err
		},
		Update: func(ctx context.Context) error {
			var err error
			c, err = s.js.UpdateConsumer(ctx, stream, want(have))
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// observability returns logger and mp, or a discarding logger and a no-op
// meter provider in their place.
func observability(logger *slog.Logger, mp metric.MeterProvider) (*slog.Logger, metric.MeterProvider) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	return logger, mp
}

// instrumentationName names the tracer and meter of this package.
const instrumentationName = "github.com/kycflow/kycflow/internal/broker"
