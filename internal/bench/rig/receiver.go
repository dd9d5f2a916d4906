package rig

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// Delivery is one webhook request a Receiver accepted (answered 2xx).
type Delivery struct {
	// Route is the last segment of the request path (/hooks/<route>).
	Route string
	// ID is the webhook-id; EventID the callback event whose result it
	// carries (Kycflow-Event-Id).
	ID          string
	EventID     string
	AccountID   string
	ExecutionID string
	Status      events.Status
	Decision    events.DecisionType
	// Unreadable are the result's unreadable fields (UnreadableFields).
	Unreadable []string
	// Baggage is the request's W3C baggage header, which kycflow never
	// sends (a caller's baggage stays at ingest).
	Baggage string
	// At is when the request arrived.
	At time.Time
	// Received and Enriched are the result's times: when ingest received
	// the callback and when the enricher made the result (zero when the
	// route's policy left them out).
	Received, Enriched time.Time
}

// Receiver is a webhook endpoint on 127.0.0.1 for every route
// (POST /hooks/<route>). It checks each request's Standard Webhooks
// signature (events.VerifyWebhook), logs every request that verifies and
// answers 204, or the status Fail set for the route. Its methods are safe
// for concurrent use.
type Receiver struct {
	secret string
	srv    *http.Server
	addr   string
	done   chan struct{}

	mu       sync.Mutex
	fail     map[string]int
	delay    map[string]time.Duration
	log      []Delivery
	attempts map[string]int
	failed   map[string]int
	invalid  int
	notify   chan struct{}
}

// NewReceiver starts a receiver with a fresh signing secret (Secret).
func NewReceiver() (*Receiver, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rig: receiver: %w", err)
	}
	r := &Receiver{
		secret:   events.FormatWebhookSecret(key),
		addr:     ln.Addr().String(),
		done:     make(chan struct{}),
		fail:     map[string]int{},
		delay:    map[string]time.Duration{},
		attempts: map[string]int{},
		failed:   map[string]int{},
		notify:   make(chan struct{}, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{route}", r.serve)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// Secret is the signing secret the routes must use ("whsec_…").
func (r *Receiver) Secret() string { return r.secret }

// Addr is the receiver's address.
func (r *Receiver) Addr() string { return r.addr }

// Fail makes the receiver answer status to every request of route, until
// Fail(route, 0).
func (r *Receiver) Fail(route string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[route] = status
}

// Delay makes the receiver take d to answer each request of route, as a
// slow endpoint does; a request the sender gives up on meanwhile still
// counts as received.
func (r *Receiver) Delay(route string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay[route] = d
}

// maxWebhookBody bounds a webhook body.
const maxWebhookBody = 1 << 20

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	route := req.PathValue("route")
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxWebhookBody))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.attempts[route]++
	status, delay := r.fail[route], r.delay[route]
	if status != 0 {
		r.failed[route]++
	}
	r.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	var env events.WebhookEnvelope
	if err := events.VerifyWebhook([]string{r.secret}, req.Header, body, 0, at); err != nil || json.Unmarshal(body, &env) != nil {
		r.mu.Lock()
		r.invalid++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	d := Delivery{
		Route:       route,
		ID:          req.Header.Get(events.HeaderWebhookID),
		EventID:     req.Header.Get(events.HeaderEventID),
		AccountID:   env.Data.IDs.AccountID,
		ExecutionID: env.Data.IDs.WorkflowExecutionID,
		Status:      env.Data.Status,
		Decision:    env.Data.Decision.Type,
		Unreadable:  env.Data.UnreadableFields,
		Baggage:     strings.Join(req.Header.Values("Baggage"), ","),
		At:          at,
	}
	if t := env.Data.Timestamps.Received; t != nil {
		d.Received = *t
	}
	if t := env.Data.Timestamps.Enriched; t != nil {
		d.Enriched = *t
	}
	r.mu.Lock()
	r.log = append(r.log, d)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// Deliveries returns the accepted requests of route ("" for every route)
// in arrival order, repeats of a webhook-id included.
func (r *Receiver) Deliveries(route string) []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Delivery
	for _, d := range r.log {
		if route == "" || d.Route == route {
			out = append(out, d)
		}
	}
	return out
}

// Attempts returns how many requests reached route and how many of them
// were answered with a Fail status.
func (r *Receiver) Attempts(route string) (total, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[route], r.failed[route]
}

// Invalid counts requests whose signature did not verify or whose body
// was not a webhook envelope.
func (r *Receiver) Invalid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invalid
}

// WaitFor waits until route has deliveries for n distinct execution
// statuses, or ctx ends.
func (r *Receiver) WaitFor(ctx context.Context, route string, n int) error {
	for {
		if got := len(distinctKeys(r.Deliveries(route))); got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rig: route %s: %d of %d results: %w", route, len(distinctKeys(r.Deliveries(route))), n, ctx.Err())
		case <-r.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func distinctKeys(ds []Delivery) map[string]bool {
	out := map[string]bool{}
	for _, d := range ds {
		out[resultKey(d.AccountID, d.ExecutionID, d.Status)] = true
	}
	return out
}

// resultKey identifies an execution status.
func resultKey(account, execution string, status events.Status) string {
	return strings.Join([]string{events.AccountToken(account), execution, string(status)}, "/")
}

// Close stops the receiver.
func (r *Receiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	<-r.done
	if errors.Is(err, context.DeadlineExceeded) {
		return r.srv.Close()
	}
	return err
}
