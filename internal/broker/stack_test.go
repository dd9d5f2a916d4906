package broker_test

import (
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/broker"
)

// TestGrowStackPassesThrough: GrowStack hands the handler the message and
// returns what the handler returns, messages and error alike.
func TestGrowStackPassesThrough(t *testing.T) {
	errHandler := errors.New("handler failed")
	in := message.NewMessage(watermill.NewUUID(), []byte("in"))
	out := []*message.Message{message.NewMessage(watermill.NewUUID(), []byte("out"))}
	var got *message.Message
	h := broker.GrowStack(func(msg *message.Message) ([]*message.Message, error) {
		got = msg
		return out, errHandler
	})
	msgs, err := h(in)
	if got != in {
		t.Error("the handler did not get the message")
	}
	if !errors.Is(err, errHandler) {
		t.Errorf("error %v, want the handler's", err)
	}
	if diff := cmp.Diff([]string{"out"}, payloads(msgs)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func payloads(msgs []*message.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Payload))
	}
	return out
}

// BenchmarkGrowStack handles each message on a goroutine of its own, as
// Watermill's router does, with a handler whose calls reach about 40 KiB
// of stack: "plain" grows the stack in steps as the calls deepen,
// "grown" once at the start (GrowStack).
func BenchmarkGrowStack(b *testing.B) {
	deep := func(*message.Message) ([]*message.Message, error) {
		return nil, descend(40)
	}
	for _, bc := range []struct {
		name string
		h    message.HandlerFunc
	}{{"plain", deep}, {"grown", broker.GrowStack(deep)}} {
		b.Run(bc.name, func(b *testing.B) {
			msg := message.NewMessage("1", nil)
			done := make(chan struct{})
			for b.Loop() {
				go func() {
					_, _ = bc.h(msg)
					done <- struct{}{}
				}()
				<-done
			}
		})
	}
}

// descend uses about 1 KiB of stack per level.
//
//go:noinline
func descend(n int) error {
	var frame [1 << 10]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return nil
	}
	if err := descend(n - 1); err != nil {
		return err
	}
	if frame[n%len(frame)] != byte(n) {
		return errors.New("frame overwritten")
	}
	return nil
}
