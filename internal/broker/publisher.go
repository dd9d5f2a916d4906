package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ErrInvalidHeader is returned by Publish for a metadata key or value that
// cannot be a NATS header (empty or with a colon, space or control
// character in the key; a line break in the value).
var ErrInvalidHeader = errors.New("invalid header")

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// PublishTimeout bounds each message waiting for its PubAck, within
	// the message's own context (default 5s).
	PublishTimeout time.Duration
	// OnDuplicate, when set, is called for every message the stream
	// reports as a duplicate: one with a Nats-Msg-Id it already stored
	// within its duplicate window. The publish still succeeds, since the
	// message is stored.
	OnDuplicate func(subject, msgID string)
	// Logger (default: discard).
	Logger *slog.Logger
	// MeterProvider receives kycflow_broker_published_messages_total
	// (default: none).
	MeterProvider metric.MeterProvider
}

func (c *PublisherConfig) setDefaults() {
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 5 * time.Second
	}
	c.Logger, c.MeterProvider = observability(c.Logger, c.MeterProvider)
}

// Validate reports the first configuration error, wrapping
// ErrInvalidConfig.
func (c PublisherConfig) Validate() error {
	if c.PublishTimeout <= 0 {
		return fmt.Errorf("broker: publisher: %w: publish timeout must be positive", ErrInvalidConfig)
	}
	return nil
}

// Publisher is a Watermill message.Publisher that stores messages in
// JetStream. The topic is the subject, unless a message names its own
// with SetPublishSubject. Each message is published with its
// metadata as headers (reserved keys excepted) and Nats-Msg-Id = msg.UUID,
// so a message published twice within the stream's duplicate window is
// stored once; Publish returns only when every message is stored, which is
// what lets the router ack the input after the output. It is safe for
// concurrent use.
type Publisher struct {
	cfg       PublisherConfig
	js        jetstream.JetStream
	published metric.Int64Counter
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher that publishes through js.
func NewPublisher(cfg PublisherConfig, js jetstream.JetStream) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if js == nil {
		return nil, fmt.Errorf("broker: publisher: %w: no JetStream context", ErrInvalidConfig)
	}
	c, err := cfg.MeterProvider.Meter(instrumentationName).Int64Counter("kycflow_broker_published_messages",
		metric.WithDescription("Messages published to JetStream, by stream and outcome (stored, duplicate, failed)."))
	if err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}
	return &Publisher{cfg: cfg, js: js, published: c}, nil
}

// Publish stores msgs on subject topic (or each message's own subject, see
// SetPublishSubject), one after the other, each waiting
// for its PubAck (bounded by PublishTimeout and the message's context). It
// stops at the first failure and returns it; the messages before it are
// stored, and publishing them again is harmless (same Nats-Msg-Id). A
// duplicate PubAck counts as success; PublishedDuplicate tells it apart.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		subject := publishSubject(msg, topic)
		nm, err := natsMsg(subject, msg)
		if err != nil {
			p.count("", "failed")
			return err
		}
		ctx, cancel := context.WithTimeout(msg.Context(), p.cfg.PublishTimeout)
		ack, err := p.js.PublishMsg(ctx, nm)
		cancel()
		if err != nil {
			p.count("", "failed")
			return fmt.Errorf("broker: publish %s: %w", subject, err)
		}
		msg.Metadata.Set(MetadataPublishedSeq, strconv.FormatUint(ack.Sequence, 10))
		if ack.Duplicate {
			msg.Metadata.Set(MetadataPublishedDuplicate, "true")
			p.count(ack.Stream, "duplicate")
			p.cfg.Logger.Debug("duplicate publish", "subject", subject, "stream", ack.Stream, "stream_seq", ack.Sequence)
			if p.cfg.OnDuplicate != nil {
				p.cfg.OnDuplicate(subject, msg.UUID)
			}
			continue
		}
		p.count(ack.Stream, "stored")
	}
	return nil
}

// Close does nothing: the Publisher does not own its connection, and the
// router closes a handler's publisher when that handler stops while other
// handlers sharing it may still be finishing their messages.
func (p *Publisher) Close() error { return nil }

func (p *Publisher) count(stream, outcome string) {
	p.published.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("stream", stream), attribute.String("outcome", outcome)))
}

// natsMsg builds the NATS message for msg: metadata as headers without the
// reserved keys, Nats-Msg-Id = UUID.
func natsMsg(subject string, msg *message.Message) (*nats.Msg, error) {
	nm := nats.NewMsg(subject)
	nm.Data = msg.Payload
	for k, v := range msg.Metadata {
		if Reserved(k) {
			continue
		}
		if err := checkHeader(k, v); err != nil {
			return nil, fmt.Errorf("broker: publish %s: %w", subject, err)
		}
		nm.Header.Set(k, v)
	}
	if msg.UUID != "" {
		if err := checkHeader(nats.MsgIdHdr, msg.UUID); err != nil {
			return nil, fmt.Errorf("broker: publish %s: %w", subject, err)
		}
		nm.Header.Set(nats.MsgIdHdr, msg.UUID)
	}
	return nm, nil
}

func checkHeader(k, v string) error {
	if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == ':' || r == 0x7f }) {
		return fmt.Errorf("%w: key %q", ErrInvalidHeader, k)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%w: value of %q has a line break", ErrInvalidHeader, k)
	}
	return nil
}
