package jumiotest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// CallbackOptions says which callbacks SendCallbacks posts, where and how.
type CallbackOptions struct {
	// URL receives the Platform callbacks (JSON). At least one of URL and
	// NetverifyURL is required.
	URL string
	// NetverifyURL receives the Netverify callbacks (form-encoded). When
	// one of the two is empty and the other is a kycflow ingest callback
	// URL (…/callbacks/platform[/<secret>] or …/callbacks/netverify[/<secret>]),
	// it is derived from the other (ResolveCallbackURLs); otherwise the
	// one given receives both APIs' callbacks, for receivers that take
	// JSON and forms on one URL.
	NetverifyURL string
	// IDs selects executions and scans by id; empty means all of them.
	IDs []string
	// SkipPlatform and SkipNetverify leave one API out.
	SkipPlatform, SkipNetverify bool
	// Rate is callbacks per second; 0 sends as fast as Concurrency allows.
	Rate float64
	// Concurrency is the number of callbacks in flight; default 1, which
	// keeps them in order.
	Concurrency int
	// Duplicates sends each callback this many more times, unchanged (the
	// same body: Jumio's retries look like this).
	Duplicates int
	// Retries is how many more times a callback answered 429 or 503 is
	// posted, each after the answer's Retry-After (1s without one, at
	// most maxRetryWait), as a sender that retries does; 0 posts each
	// once.
	Retries int
	// OutOfOrder follows each callback with a repeat whose
	// callbackSentAt (callbackDate) is a minute older: an out-of-order
	// delivery that must be recognised as stale.
	OutOfOrder bool
	// UserReference, when set, gives the userReference of a Platform
	// callback (for example an HMAC token); by default the execution's.
	UserReference func(Execution) string
	// Client posts the callbacks; default a client with a 10s timeout.
	Client *http.Client
	// Header is added to every request (a caller's trace headers, say);
	// it cannot replace Content-Type or User-Agent.
	Header http.Header
	// Answered, when set, is called with each callback once it is
	// answered (or failed), in the order the answers come; one call at a
	// time.
	Answered func(SentCallback)
}

// SentCallback is one callback posted and its answer.
type SentCallback struct {
	API events.API
	// Reference is the workflow execution id or the scan reference.
	Reference string
	AccountID string
	// SentAt is the callbackSentAt (callbackDate) in the body.
	SentAt time.Time
	// Duplicate marks a repeat with the same body; Stale a repeat with an
	// older SentAt than one sent before it.
	Duplicate, Stale bool
	ContentType      string
	Body             []byte
	// Status is the HTTP status answered; 0 with Err when none came.
	Status int
	Err    error
	// Attempts is how many times it was posted (Retries).
	Attempts int
}

// maxRetryWait bounds the wait before a callback answered 429 or 503 is
// posted again.
const maxRetryWait = 10 * time.Second

// PlatformCallback returns the JSON body of a Platform callback for e, with
// hrefs on the server's URL.
func (s *Server) PlatformCallback(e Execution, sentAt time.Time, userReference string) []byte {
	base := s.url + jumio.PathAccounts + "/" + e.AccountID
	body := map[string]any{
		"callbackSentAt": ts(sentAt),
		"workflowExecution": map[string]string{
			"id": e.ID, "href": base + "/workflow-executions/" + e.ID, "definitionKey": e.DefinitionKey, "status": e.Status,
		},
		"account": map[string]string{"id": e.AccountID, "href": base},
	}
	if userReference != "" {
		body["userReference"] = userReference
	}
	b, _ := json.Marshal(body)
	return b
}

// NetverifyCallback returns the form body of a Netverify callback for sc
// with its date set to sentAt, image links on the server's URL.
func (s *Server) NetverifyCallback(sc NetverifyScan, sentAt time.Time) []byte {
	f := cloneValues(sc.Callback)
	if sc.Kind == events.KindDocumentVerification {
		f.Set("timestamp", ts(sentAt))
	} else {
		f.Set("callbackDate", ts(sentAt))
	}
	return s.rewrite([]byte(f.Encode()))
}

// ErrNoCallbackURL is returned by SendCallbacks without a URL, or with one
// that is not an absolute URL.
var ErrNoCallbackURL = errors.New("jumiotest: callback URL required")

// SendCallbacks posts callbacks for the selected executions and scans and
// returns each with its answer, in the order planned (Platform first). It
// returns early with what was sent when ctx ends.
func (s *Server) SendCallbacks(ctx context.Context, o CallbackOptions) ([]SentCallback, error) {
	o.URL, o.NetverifyURL = resolveOrShare(o.URL, o.NetverifyURL)
	for _, u := range []string{o.URL, o.NetverifyURL} {
		if _, err := url.ParseRequestURI(u); err != nil {
			return nil, ErrNoCallbackURL
		}
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	o.Concurrency = max(o.Concurrency, 1)
	plan := s.plan(o)

	var lim *rate.Limiter
	if o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	var answered sync.Mutex
	for range o.Concurrency {
		wg.Go(func() {
			for i := range next {
				c := &plan[i]
				target := o.URL
				if c.API == events.APINetverify {
					target = o.NetverifyURL
				}
				c.Status, c.Attempts, c.Err = s.postRetrying(ctx, o, target, c)
				if o.Answered != nil {
					answered.Lock()
					o.Answered(*c)
					answered.Unlock()
				}
			}
		})
	}
	var err error
	sent := 0
loop:
	for i := range plan {
		if lim != nil {
			if err = lim.Wait(ctx); err != nil {
				break
			}
		}
		select {
		case next <- i:
			sent++
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(next)
	wg.Wait()
	return plan[:sent], err
}

// resolveOrShare completes the two callback URLs with ResolveCallbackURLs;
// one that cannot be derived is the other.
func resolveOrShare(platformURL, netverifyURL string) (string, string) {
	p, n := ResolveCallbackURLs(platformURL, netverifyURL)
	p = cmp.Or(p, cmp.Or(platformURL, netverifyURL))
	return p, cmp.Or(n, p)
}

// plan lists the callbacks to send.
func (s *Server) plan(o CallbackOptions) []SentCallback {
	want := func(id string) bool {
		if len(o.IDs) == 0 {
			return true
		}
		for _, x := range o.IDs {
			if x == id {
				return true
			}
		}
		return false
	}
	var plan []SentCallback
	add := func(c SentCallback, older []byte) {
		plan = append(plan, c)
		for range o.Duplicates {
			d := c
			d.Duplicate = true
			plan = append(plan, d)
		}
		if o.OutOfOrder {
			st := c
			st.Stale, st.SentAt, st.Body = true, c.SentAt.Add(-time.Minute), older
			plan = append(plan, st)
		}
	}
	if !o.SkipPlatform {
		for _, e := range s.Executions() {
			if !want(e.ID) || e.Status == "INITIATED" || e.Status == "ACQUIRED" {
				continue
			}
			ref := e.UserReference
			if o.UserReference != nil {
				ref = o.UserReference(e)
			}
			sent := e.CallbackSentAt
			if sent.IsZero() {
				sent = time.Now().UTC()
			}
			add(SentCallback{API: events.APIPlatform, Reference: e.ID, AccountID: e.AccountID, SentAt: sent,
				ContentType: "application/json", Body: s.PlatformCallback(e, sent, ref)},
				s.PlatformCallback(e, sent.Add(-time.Minute), ref))
		}
	}
	if !o.SkipNetverify {
		for _, sc := range s.NetverifyScans() {
			if !want(sc.Reference) || len(sc.Callback) == 0 {
				continue
			}
			add(SentCallback{API: events.APINetverify, Reference: sc.Reference, AccountID: "", SentAt: sc.CallbackDate,
				ContentType: "application/x-www-form-urlencoded", Body: s.NetverifyCallback(sc, sc.CallbackDate)},
				s.NetverifyCallback(sc, sc.CallbackDate.Add(-time.Minute)))
		}
	}
	return plan
}

// postRetrying posts c, and again after each 429 or 503 answer's
// Retry-After, up to o.Retries more times or until ctx ends. It returns
// the last answer and how many posts it made.
func (s *Server) postRetrying(ctx context.Context, o CallbackOptions, target string, c *SentCallback) (status, attempts int, err error) {
	for attempt := 1; ; attempt++ {
		status, after, err := s.post(o.Client, target, c.ContentType, c.Body, o.Header)
		if err != nil || (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable) || attempt > o.Retries {
			return status, attempt, err
		}
		t := time.NewTimer(min(cmp.Or(after, time.Second), maxRetryWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return status, attempt, err
		case <-t.C:
		}
	}
}

// post sends one callback as Jumio does and returns the status and the
// answer's Retry-After (seconds; 0 when it has none).
func (s *Server) post(c *http.Client, target, contentType string, body []byte, hdr http.Header) (int, time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Jumio Callback (jumiotest)")
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = errors.New(strings.TrimSpace(ue.Op + " callback: " + ue.Err.Error()))
		}
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	var after time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		after = time.Duration(n) * time.Second
	}
	return resp.StatusCode, after, nil
}
