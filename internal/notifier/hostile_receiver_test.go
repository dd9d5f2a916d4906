package notifier_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// A webhook receiver is outside kycflow and may be broken or hostile.
// These tests answer deliveries with raw bytes over loopback.

// rawReceiver answers the n-th request (from 0) with answer(n, body), then
// reads the next request on the connection when the answer said
// "Content-Length: 0", or else keeps the connection open, silent, until
// the test ends. It returns the endpoint's URL.
func rawReceiver(t *testing.T, answer func(n int, body []byte) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close() })
	requests := make(chan int, 1)
	requests <- 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(req.Body)
					n := <-requests
					requests <- n + 1
					a := answer(n, body)
					_, _ = io.WriteString(c, a)
					if !strings.Contains(a, "Content-Length: 0") {
						<-done
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/hook?token=S3CRET-TOKEN"
}

func rawRoute(t *testing.T, name, rawURL string) notifier.Route {
	t.Helper()
	u, err := notifier.ParseWebhookURL(rawURL, true)
	if err != nil {
		t.Fatal(err)
	}
	return notifier.Route{
		Name: name, Policy: events.PolicyFull,
		Webhook: &notifier.WebhookRoute{URL: u, Keys: notifiertest.Keys(t, notifiertest.Secret), Timeout: 500 * time.Millisecond, AllowPrivate: true},
		Retry:   notifier.Retry{MaxAttempts: 2, InitialInterval: 50 * time.Millisecond, MaxInterval: 100 * time.Millisecond},
	}
}

const noContent = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"

// TestHostileReceiverEchoes: net/http quotes what it cannot read as a
// response, and the error went into the logs, the span and the dead
// letter's Kycflow-Error: a receiver that echoes the request (the result's
// personal data) or a TCP echo service (the URL's token).
func TestHostileReceiverEchoes(t *testing.T) {
	for name, answer := range map[string]func(int, []byte) string{
		"the body in the headers": func(_ int, b []byte) string { return "HTTP/1.1 500 Internal Server Error\r\n" + string(b) + "\r\n\r\n" },
		"the request line":        func(int, []byte) string { return "POST /hook?token=S3CRET-TOKEN HTTP/1.1\r\n\r\n" },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t) // its logs are checked for personal data
			h.start(testConfig(), rawRoute(t, "echo", rawReceiver(t, answer)))
			h.publish(result(1), nil)
			waitFor(t, "the dead letter", func() bool { return len(h.messages(events.StreamDLQ)) == 1 })
			text := h.messages(events.StreamDLQ)[0].Header.Get(events.HeaderError)
			if !strings.Contains(text, "the receiver's response could not be read") {
				t.Errorf("Kycflow-Error %q does not say what failed", text)
			}
			for _, secret := range append([]string{"S3CRET-TOKEN"}, notifiertest.PersonalData...) {
				if strings.Contains(text, secret) || strings.Contains(h.log.String(), secret) {
					t.Errorf("%q reached Kycflow-Error or the log", secret)
				}
			}
		})
	}
}

// TestHostileReceiverSwitchesProtocols: the body of a 101 Switching
// Protocols is the connection itself, which no context bounds; reading it
// held the delivery, and with it a worker of the route, for good.
func TestHostileReceiverSwitchesProtocols(t *testing.T) {
	h := newHarness(t)
	url := rawReceiver(t, func(n int, _ []byte) string {
		if n == 0 {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
		}
		return noContent
	})
	rt := rawRoute(t, "upgrade", url)
	rt.Concurrency = 1
	h.start(testConfig(), rt)
	h.publish(result(1), nil)
	h.publish(result(2), nil)
	waitFor(t, "the 101 dead-lettered and the next result delivered", func() bool {
		return len(h.messages(events.StreamDLQ)) == 1 && h.metric("kycflow_notifier_delivered_total", "upgrade") == 1
	})
}

// TestHostileReceiverUnsolicitedResponse: a second response after the
// first, in one write, is printed by net/http through the standard
// library's log when the connection goes back to the pool, quoting it:
// an echo of the request. It reaches the service's log without the quote.
func TestHostileReceiverUnsolicitedResponse(t *testing.T) {
	h := newHarness(t)
	url := rawReceiver(t, func(_ int, b []byte) string {
		return "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n\r\n" + string(b)
	})
	h.start(testConfig(), rawRoute(t, "twice", url))
	h.publish(result(1), nil)
	waitFor(t, "the delivery", func() bool { return h.metric("kycflow_notifier_delivered_total", "twice") == 1 })
	waitFor(t, "net/http's line in the service's log", func() bool {
		return strings.Contains(h.log.String(), "Unsolicited response received on idle HTTP channel")
	})
	// The harness checks the log for personal data.
}

// TestWebhookHeaderValueItCannotCarry: an event id with a line break
// (from the message itself, not the enricher's) can never be sent: it is
// dead-lettered at once as permanent, not retried as a connection failure.
func TestWebhookHeaderValueItCannotCarry(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rt := rcv.Route("bad", events.PolicyFull)
	rt.Retry.MaxAttempts = 3
	h.start(testConfig(), rt)
	r := result(1)
	r.IDs.EventID = "evt\nX-Injected: 1"
	b, err := json.Marshal(events.EnrichedEvent{SchemaVersion: events.ResultSchemaVersion, Result: r, RawType: events.RawPlatformDetails})
	if err != nil {
		t.Fatal(err)
	}
	h.publishRaw(events.EnrichedSubject(r.IDs.AccountID, r.IDs.WorkflowExecutionID), "", b, nil)
	waitFor(t, "the dead letter", func() bool { return len(h.messages(events.StreamDLQ)) == 1 })
	dl := h.messages(events.StreamDLQ)[0]
	if got := dl.Header.Get(events.HeaderErrorClass); got != notifier.ClassPermanent || dl.Header.Get(events.HeaderAttempts) != "1" {
		t.Errorf("class %s after %s attempts, want permanent after 1", got, dl.Header.Get(events.HeaderAttempts))
	}
	if n := rcv.Attempts(); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
}
