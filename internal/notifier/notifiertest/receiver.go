// Package notifiertest holds what tests of the notifier and of its sinks
// share: a webhook receiver on a loopback port that verifies every
// signature with events.VerifyWebhook, a reader of published results, a
// full result with personal data in every field, and the conformance suite
// every Sink runs (TestSink).
package notifiertest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// Secret is a signing secret for tests; OldSecret one being rotated out.
var (
	Secret    = events.FormatWebhookSecret(bytes.Repeat([]byte{0x5e}, 32))
	OldSecret = events.FormatWebhookSecret(bytes.Repeat([]byte{0x01}, 24))
)

// Keys returns the signing keys of secrets; it fails the test on a bad one.
func Keys(t testing.TB, secrets ...string) notifier.SigningKeys {
	t.Helper()
	k, err := notifier.NewSigningKeys(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Request is one webhook request a Receiver accepted.
type Request struct {
	Header   http.Header
	Body     []byte
	Envelope events.WebhookEnvelope
}

// ID is the webhook-id.
func (r Request) ID() string { return r.Header.Get(events.HeaderWebhookID) }

// Receiver is a webhook endpoint on 127.0.0.1. It checks each request's
// signature with events.VerifyWebhook against its secrets (a failure fails
// the test), answers as scripted (Fail, Hang) or 204, and keeps the
// accepted requests, one per webhook-id, as a receiver that de-duplicates
// by webhook-id does.
type Receiver struct {
	t       testing.TB
	srv     *httptest.Server
	secrets []string
	closing chan struct{}
	arrived chan string

	mu       sync.Mutex
	script   []func(w http.ResponseWriter, r *http.Request) outcome
	accepted []Request
	ids      map[string]int
	attempts int
	seen     []string // the webhook-id of every request, in order
}

// NewReceiver starts a plain-HTTP receiver that accepts signatures made
// with any of secrets.
func NewReceiver(t testing.TB, secrets ...string) *Receiver {
	return start(t, false, secrets)
}

// NewTLSReceiver starts an HTTPS receiver; CertPool trusts it.
func NewTLSReceiver(t testing.TB, secrets ...string) *Receiver {
	return start(t, true, secrets)
}

func start(t testing.TB, tls bool, secrets []string) *Receiver {
	t.Helper()
	r := &Receiver{t: t, secrets: secrets, closing: make(chan struct{}), arrived: make(chan string, 1024), ids: map[string]int{}}
	if tls {
		r.srv = httptest.NewTLSServer(r)
	} else {
		r.srv = httptest.NewServer(r)
	}
	t.Cleanup(func() {
		close(r.closing)
		r.srv.Close()
	})
	return r
}

// URL is the receiver's endpoint.
func (r *Receiver) URL() string { return r.srv.URL + "/hooks/kyc" }

// CertPool trusts a TLS receiver's certificate.
func (r *Receiver) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(r.srv.Certificate())
	return pool
}

// Route returns a webhook route to the receiver (allowPrivate, since it
// listens on loopback).
func (r *Receiver) Route(name string, policy events.Policy) notifier.Route {
	u, err := notifier.ParseWebhookURL(r.URL(), true)
	if err != nil {
		r.t.Fatal(err)
	}
	return notifier.Route{
		Name:   name,
		Policy: policy,
		Webhook: &notifier.WebhookRoute{
			URL: u, Keys: Keys(r.t, Secret), Timeout: 10 * time.Second, AllowPrivate: true,
		},
		Retry: notifier.Retry{MaxAttempts: 5, InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond},
	}
}

// Fail makes the next n requests answer status, with header set.
func (r *Receiver) Fail(n, status int, header http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.script = append(r.script, func(w http.ResponseWriter, _ *http.Request) outcome {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			return answered
		})
	}
}

// Redirect makes the next request answer 307 to location.
func (r *Receiver) Redirect(location string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, func(w http.ResponseWriter, req *http.Request) outcome {
		http.Redirect(w, req, location, http.StatusTemporaryRedirect)
		return answered
	})
}

// Hang makes the next n requests wait, unanswered, until the client gives
// up or the test ends.
func (r *Receiver) Hang(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.script = append(r.script, func(http.ResponseWriter, *http.Request) outcome {
			return hang
		})
	}
}

// Hold makes the next request wait until release is closed, then accept
// it as an unscripted request is.
func (r *Receiver) Hold(release <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, func(_ http.ResponseWriter, req *http.Request) outcome {
		select {
		case <-release:
			return accept
		case <-req.Context().Done():
		case <-r.closing:
		}
		return answered
	})
}

// outcome is what a scripted step did with a request.
type outcome int

const (
	answered outcome = iota // it wrote the answer
	hang                    // wait until the client gives up
	accept                  // accept it as an unscripted request
)

// Arrived receives the webhook-id of every request as it arrives, before
// it is answered.
func (r *Receiver) Arrived() <-chan string { return r.arrived }

// Accepted returns the accepted requests, one per webhook-id, in order.
func (r *Receiver) Accepted() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.accepted...)
}

// Attempts is the number of requests that reached the receiver.
func (r *Receiver) Attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// IDs are the webhook-ids of every request that reached the receiver,
// answered or not, in the order they came.
func (r *Receiver) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// ServeHTTP is the endpoint.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := req.Header.Get(events.HeaderWebhookID)
	select {
	case r.arrived <- id:
	default:
	}
	r.mu.Lock()
	r.attempts++
	r.seen = append(r.seen, id)
	var step func(http.ResponseWriter, *http.Request) outcome
	if len(r.script) > 0 {
		step, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()
	if err := events.VerifyWebhook(r.secrets, req.Header, body, 0, time.Now()); err != nil {
		r.t.Errorf("receiver: webhook %s does not verify: %v", id, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("Content-Type"), events.ContentTypeJSON) {
		r.t.Errorf("receiver: got %s with Content-Type %q, want a JSON POST", req.Method, req.Header.Get("Content-Type"))
	}
	if step != nil {
		switch step(w, req) {
		case answered:
			return
		case hang:
			select {
			case <-req.Context().Done():
			case <-r.closing:
			}
			return
		}
	}
	var env events.WebhookEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		r.t.Errorf("receiver: webhook %s: %v", id, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if _, dup := r.ids[id]; !dup {
		r.ids[id] = len(r.accepted)
		r.accepted = append(r.accepted, Request{Header: req.Header.Clone(), Body: body, Envelope: env})
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
