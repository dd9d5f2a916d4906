package broker_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/kycflow/kycflow/internal/broker"
)

func TestWatermillLoggerKeepsContentsOut(t *testing.T) {
	var buf bytes.Buffer
	l := broker.NewWatermillLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Info("Starting handler", watermill.LogFields{"topic": "t"})
	l.Error("Cannot publish messages", errors.New("boom"), watermill.LogFields{"not_sent_message": "Jane Doe", "topic": "t"})
	l.With(watermill.LogFields{"not_sent_message": "John Roe"}).Error("Publishing produced messages failed", errors.New("boom"), nil)
	out := buf.String()
	for _, banned := range []string{"Jane Doe", "John Roe", "Starting handler"} {
		if strings.Contains(out, banned) {
			t.Errorf("log output contains %q:\n%s", banned, out)
		}
	}
	for _, kept := range []string{"Cannot publish messages", "Publishing produced messages failed", `"topic":"t"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("log output lacks %q:\n%s", kept, out)
		}
	}
}

func TestRouterConfigValidate(t *testing.T) {
	if _, err := broker.NewRouter(broker.RouterConfig{CloseTimeout: -1}, nil); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Errorf("negative close timeout: got %v, want ErrInvalidConfig", err)
	}
	if _, err := broker.NewRouter(broker.RouterConfig{}, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
