package broker

import (
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// RouterConfig configures NewRouter.
type RouterConfig struct {
	// CloseTimeout bounds how long the router's Close waits for running
	// handlers (default 25s, under Kubernetes' default 30s grace period).
	// Keep it above the subscribers' DrainTimeout plus AckTimeout, so that
	// they release what is left before the router gives up.
	CloseTimeout time.Duration
	// TracerProvider traces handlers and publishes (default: none).
	TracerProvider trace.TracerProvider
	// Propagator carries the trace context in message metadata (default:
	// W3C trace context).
	Propagator propagation.TextMapPropagator
}

func (c *RouterConfig) setDefaults() {
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 25 * time.Second
	}
}

// Validate reports the first configuration error, wrapping
// ErrInvalidConfig.
func (c RouterConfig) Validate() error {
	if c.CloseTimeout <= 0 {
		return fmt.Errorf("broker: router: %w: close timeout must be positive", ErrInvalidConfig)
	}
	return nil
}

// NewRouter returns a Watermill router for a kycflow stage: it logs
// through logger (NewWatermillLogger), runs GrowStack, Recoverer and
// TraceHandler around every handler and decorates every handler's publisher with
// TracePublisher. Handlers, their subscribers (Subscriber) and publishers
// (Publisher) are added by the service, each with a Recoverer of its own
// that dead-letters past its budget: the router's recovers what those
// miss and redelivers it with back-off, never at once (Watermill's own
// recovery would nack at once, and a message that panics on every
// delivery would spin).
func NewRouter(cfg RouterConfig, logger *slog.Logger) (*message.Router, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, NewWatermillLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("broker: router: %w", err)
	}
	r.AddMiddleware(GrowStack, Recoverer(PanicPolicy{Logger: logger}), TraceHandler(cfg.TracerProvider, cfg.Propagator))
	r.AddPublisherDecorators(TracePublisher(cfg.TracerProvider, cfg.Propagator))
	return r, nil
}

// NewWatermillLogger adapts logger for Watermill components. Watermill's
// Info lines (handler and router lifecycle) become Debug, and its Trace
// lines (one per message) stay below Debug. Fields that would carry
// message contents (the router's "not_sent_message", a dump of the
// messages a failed publish did not send) are dropped. A nil logger
// discards.
func NewWatermillLogger(logger *slog.Logger) watermill.LoggerAdapter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return redactingLogger{watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})}
}

// contentField is the router's log field that dumps the messages a
// failed publish did not send, payloads included.
const contentField = "not_sent_message"

type redactingLogger struct{ l watermill.LoggerAdapter }

func redact(fields watermill.LogFields) watermill.LogFields {
	if _, ok := fields[contentField]; !ok {
		return fields
	}
	out := maps.Clone(fields)
	delete(out, contentField)
	return out
}

func (r redactingLogger) Error(msg string, err error, fields watermill.LogFields) {
	r.l.Error(msg, err, redact(fields))
}
func (r redactingLogger) Info(msg string, fields watermill.LogFields) { r.l.Info(msg, redact(fields)) }
func (r redactingLogger) Debug(msg string, fields watermill.LogFields) {
	r.l.Debug(msg, redact(fields))
}
func (r redactingLogger) Trace(msg string, fields watermill.LogFields) {
	r.l.Trace(msg, redact(fields))
}
func (r redactingLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return redactingLogger{r.l.With(redact(fields))}
}
