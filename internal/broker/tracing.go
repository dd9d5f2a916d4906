package broker

import (
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span attribute keys. Spans carry subjects, ids and delivery facts, never
// payloads or header values other than the trace context.
const (
	attrMessagingSystem = attribute.Key("messaging.system")
	attrDestination     = attribute.Key("messaging.destination.name")
	attrOperation       = attribute.Key("messaging.operation.type")
	attrMessageID       = attribute.Key("messaging.message.id")
	attrConsumerGroup   = attribute.Key("messaging.consumer.group.name")
	attrStream          = attribute.Key("kycflow.stream")
	attrStreamSeq       = attribute.Key("kycflow.stream_seq")
	attrAttempt         = attribute.Key("kycflow.attempt")
	attrSettlement      = attribute.Key("kycflow.settlement")
	attrRetryDelay      = attribute.Key("kycflow.retry_delay_ms")
)

func tracingDefaults(tp trace.TracerProvider, prop propagation.TextMapPropagator) (trace.Tracer, propagation.TextMapPropagator) {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return tp.Tracer(instrumentationName), prop
}

// TracePublisher returns a publisher decorator that starts a producer span
// per message, as a child of the span in msg.Context(), and injects its
// context into the message metadata (traceparent, tracestate), so the
// consumer's span continues the same trace. A nil tp traces nothing; a nil
// prop means W3C trace context.
func TracePublisher(tp trace.TracerProvider, prop propagation.TextMapPropagator) message.PublisherDecorator {
	tracer, prop := tracingDefaults(tp, prop)
	return func(pub message.Publisher) (message.Publisher, error) {
		return &tracingPublisher{pub: pub, tracer: tracer, prop: prop}, nil
	}
}

type tracingPublisher struct {
	pub    message.Publisher
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func (p *tracingPublisher) Publish(topic string, msgs ...*message.Message) error {
	spans := make([]trace.Span, 0, len(msgs))
	for _, msg := range msgs {
		subject := publishSubject(msg, topic)
		ctx, span := p.tracer.Start(msg.Context(), "send "+subjectRoot(subject),
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attrMessagingSystem.String("nats"),
				attrOperation.String("send"),
				attrDestination.String(subject),
				attrMessageID.String(msg.UUID),
			))
		if msg.Metadata == nil {
			msg.Metadata = message.Metadata{}
		}
		p.prop.Inject(ctx, propagation.MapCarrier(msg.Metadata))
		spans = append(spans, span)
	}
	err := p.pub.Publish(topic, msgs...)
	for _, span := range spans {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
		}
		span.End()
	}
	return err
}

func (p *tracingPublisher) Close() error { return p.pub.Close() }

// TraceHandler returns a router middleware that extracts the trace context
// from the message metadata, starts a consumer span as its child (with the
// subject, stream sequence and attempt), and runs the handler with it in
// msg.Context(). Messages the handler produces without a span of their own
// get the handler's span, so TracePublisher makes them its children. A nil tp
// traces nothing; a nil prop means W3C trace context.
func TraceHandler(tp trace.TracerProvider, prop propagation.TextMapPropagator) message.HandlerMiddleware {
	tracer, prop := tracingDefaults(tp, prop)
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			parent := prop.Extract(msg.Context(), propagation.MapCarrier(msg.Metadata))
			name := message.HandlerNameFromCtx(msg.Context())
			if name == "" {
				name = subjectRoot(Subject(msg))
			}
			ctx, span := tracer.Start(parent, "process "+name,
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(
					attrMessagingSystem.String("nats"),
					attrOperation.String("process"),
					attrDestination.String(Subject(msg)),
					attrMessageID.String(msg.UUID),
					attrConsumerGroup.String(Consumer(msg)),
					attrStream.String(Stream(msg)),
					attrStreamSeq.Int64(int64(StreamSeq(msg))),
					attrAttempt.Int(Attempt(msg)),
				))
			defer span.End()
			msg.SetContext(ctx)

			out, err := h(msg)

			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, "handler failed")
			}
			select {
			case <-msg.Nacked():
				switch {
				case terminated(msg):
					span.SetAttributes(attrSettlement.String("term"))
				case RetryDelay(msg) > 0:
					span.SetAttributes(attrSettlement.String("nak"), attrRetryDelay.Int64(RetryDelay(msg).Milliseconds()))
				default:
					span.SetAttributes(attrSettlement.String("nak"))
				}
			default:
				if err != nil && RetryDelay(msg) > 0 {
					span.SetAttributes(attrRetryDelay.Int64(RetryDelay(msg).Milliseconds()))
				}
			}
			for _, o := range out {
				if !trace.SpanContextFromContext(o.Context()).IsValid() {
					o.SetContext(trace.ContextWithSpan(o.Context(), span))
				}
			}
			return out, err
		}
	}
}

// subjectRoot returns the first two tokens of a subject ("jumio.enriched"
// of "jumio.enriched.<account>.<execution>"): span names stay few while
// subjects carry ids.
func subjectRoot(subject string) string {
	i := strings.IndexByte(subject, '.')
	if i < 0 {
		return subject
	}
	if j := strings.IndexByte(subject[i+1:], '.'); j >= 0 {
		return subject[:i+1+j]
	}
	return subject
}
