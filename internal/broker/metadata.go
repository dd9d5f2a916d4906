package broker

import (
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
)

// Reserved metadata keys. The Subscriber sets the delivery keys on every
// message it hands out; handlers set the settlement keys. Keys with
// MetadataPrefix are never sent as NATS headers by the Publisher or
// PublishDeadLetter, and incoming headers with that prefix are dropped, so a
// publisher cannot forge them. Every other metadata key is a NATS header,
// one to one.
const (
	// MetadataPrefix starts every reserved key.
	MetadataPrefix = "_kycflow_"

	// MetadataStream is the stream the message was read from.
	MetadataStream = MetadataPrefix + "stream"
	// MetadataConsumer is the durable consumer that delivered it.
	MetadataConsumer = MetadataPrefix + "consumer"
	// MetadataSubject is the subject the message was stored under.
	MetadataSubject = MetadataPrefix + "subject"
	// MetadataStreamSeq is its stream sequence (decimal).
	MetadataStreamSeq = MetadataPrefix + "stream_seq"
	// MetadataAttempt is the JetStream delivery count (decimal, 1 on the
	// first delivery).
	MetadataAttempt = MetadataPrefix + "attempt"
	// MetadataTimestamp is when the stream stored the message (RFC 3339).
	MetadataTimestamp = MetadataPrefix + "timestamp"

	// MetadataRetryDelay asks for redelivery after this delay (a Go
	// duration) when the message is nacked. See SetRetryDelay.
	MetadataRetryDelay = MetadataPrefix + "retry_delay"
	// MetadataTerminate asks the server never to redeliver the message
	// when it is nacked. See Terminate.
	MetadataTerminate = MetadataPrefix + "terminate"

	// MetadataPublishSubject overrides, for one message, the subject the
	// Publisher is given. See SetPublishSubject.
	MetadataPublishSubject = MetadataPrefix + "publish_subject"
	// MetadataPublishedDuplicate is set by the Publisher on a message the
	// stream acknowledged as a duplicate (its Nats-Msg-Id stored already).
	// See PublishedDuplicate.
	MetadataPublishedDuplicate = MetadataPrefix + "published_duplicate"
	// MetadataPublishedSeq is set by the Publisher to the stream sequence
	// the message is stored at (the original's, for a duplicate). See
	// PublishedSeq.
	MetadataPublishedSeq = MetadataPrefix + "published_seq"
)

// PublishedSeq is the stream sequence the Publisher's last publish of msg
// is stored at (the stored original's for a duplicate); 0 before.
func PublishedSeq(msg *message.Message) uint64 {
	n, _ := strconv.ParseUint(msg.Metadata.Get(MetadataPublishedSeq), 10, 64)
	return n
}

// PublishedDuplicate reports whether the Publisher's last publish of msg
// was acknowledged as a duplicate: the stream held a message with its
// Nats-Msg-Id already (another worker's, or an earlier attempt's), and
// stored nothing new.
func PublishedDuplicate(msg *message.Message) bool {
	return msg.Metadata.Get(MetadataPublishedDuplicate) != ""
}

// Reserved reports whether key is a reserved metadata key that never
// travels as a header.
func Reserved(key string) bool { return strings.HasPrefix(key, MetadataPrefix) }

// Stream returns the stream msg was read from ("" if msg did not come from
// a Subscriber).
func Stream(msg *message.Message) string { return msg.Metadata.Get(MetadataStream) }

// Consumer returns the durable consumer that delivered msg.
func Consumer(msg *message.Message) string { return msg.Metadata.Get(MetadataConsumer) }

// Subject returns the subject msg was stored under.
func Subject(msg *message.Message) string { return msg.Metadata.Get(MetadataSubject) }

// StreamSeq returns the stream sequence of msg (0 if unknown).
func StreamSeq(msg *message.Message) uint64 {
	n, _ := strconv.ParseUint(msg.Metadata.Get(MetadataStreamSeq), 10, 64)
	return n
}

// Attempt returns the delivery attempt of msg: 1 on the first delivery, 2
// on the first redelivery, and so on (0 if unknown). Handlers compare it
// with their retry budget to decide when to dead-letter.
func Attempt(msg *message.Message) int {
	n, _ := strconv.Atoi(msg.Metadata.Get(MetadataAttempt))
	return n
}

// Timestamp returns when the stream stored msg (zero if unknown).
func Timestamp(msg *message.Message) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetadataTimestamp))
	return t
}

// SetRetryDelay makes a later Nack of msg redeliver it after d (JetStream
// NakWithDelay) instead of at once. Other messages keep flowing while it
// waits: the delay is kept by the server, not by a worker. A message
// waiting for its redelivery still counts against the consumer's
// MaxAckPending. d <= 0 clears the delay.
func SetRetryDelay(msg *message.Message, d time.Duration) {
	if d <= 0 {
		delete(msg.Metadata, MetadataRetryDelay)
		return
	}
	msg.Metadata.Set(MetadataRetryDelay, d.String())
}

// RetryDelay returns the delay set by SetRetryDelay (0 when none).
func RetryDelay(msg *message.Message) time.Duration {
	d, err := time.ParseDuration(msg.Metadata.Get(MetadataRetryDelay))
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// Redeliver sets the retry delay of msg and nacks it. A handler that calls
// Redeliver and returns no error avoids the router's per-message error log;
// the router's Ack that follows is ignored because the message is already
// nacked. It reports false if msg was already acked.
func Redeliver(msg *message.Message, d time.Duration) bool {
	SetRetryDelay(msg, d)
	return msg.Nack()
}

// Backoff is the redelivery delay after the attempt-th failed delivery
// (attempt counts from 1): initial doubled per attempt up to maxInterval,
// each step randomized by ±50% (cenkalti/backoff's exponential back-off).
// Both stages use it, so their retry schedules read the same.
func Backoff(attempt int, initial, maxInterval time.Duration) time.Duration {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(maxInterval),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxElapsedTime(0),
	)
	d := b.NextBackOff()
	for i := 1; i < min(attempt, 64); i++ {
		d = b.NextBackOff()
	}
	return d
}

// Terminate nacks msg and tells the server never to deliver it again
// (JetStream Term). It reports false if msg was already acked. Dead-letter
// a message (PublishDeadLetter, then Ack) rather than terminate it when it must
// be kept: a terminated message stays in its stream but is no longer
// pending for this consumer.
func Terminate(msg *message.Message) bool {
	msg.Metadata.Set(MetadataTerminate, "true")
	return msg.Nack()
}

func terminated(msg *message.Message) bool { return msg.Metadata.Get(MetadataTerminate) == "true" }

// SetPublishSubject makes the Publisher store msg under subject whatever
// topic it is given. A Watermill router handler has one publish topic,
// while kycflow subjects carry ids (jumio.enriched.<account>.<execution>):
// the handler sets each output's subject with this and gives the router
// the stream's subject root as the topic.
func SetPublishSubject(msg *message.Message, subject string) {
	msg.Metadata.Set(MetadataPublishSubject, subject)
}

// publishSubject is the subject msg is published under when Publish is
// given topic.
func publishSubject(msg *message.Message, topic string) string {
	if s := msg.Metadata.Get(MetadataPublishSubject); s != "" {
		return s
	}
	return topic
}

// Headers returns the NATS headers of msg: every metadata key except the
// reserved ones. PublishDeadLetter keeps them as the original headers.
func Headers(msg *message.Message) nats.Header {
	h := make(nats.Header, len(msg.Metadata))
	for k, v := range msg.Metadata {
		if !Reserved(k) {
			h.Set(k, v)
		}
	}
	return h
}
