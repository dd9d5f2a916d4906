package jumio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokens is the OAuth2 token of one Client, shared by all its goroutines.
// The token is cached by oauth2.ReuseTokenSourceWithExpiry and replaced
// TokenRefreshAhead before it expires; tokens adds two things: callers wait
// for an in-flight token request on a channel (at most one request in
// flight, and a caller's context is honoured while it waits), and a 401
// invalidates the token it was sent with, once, however many callers saw
// it.
type tokens struct {
	fetch func() oauth2.TokenSource // a new caching source
	// maxRetryAfter caps the Retry-After of a token error, as
	// Config.MaxRetryAfter caps the API's.
	maxRetryAfter time.Duration

	mu       sync.Mutex
	src      oauth2.TokenSource
	cur      string        // access token last obtained from src
	inflight chan struct{} // closed when the running request ends
	last     *oauth2.Token
	lastErr  error
}

func newTokens(cfg Config, httpClient *http.Client) *tokens {
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.Hosts.Auth + PathToken,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	// The token source lives as long as the Client, so it is built on a
	// background context; each token request is bounded by httpClient's
	// timeout, and callers stop waiting when their own context ends.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, httpClient)
	raw := &refreshAhead{src: oauth2TokenSourceFunc(func() (*oauth2.Token, error) { return cc.Token(ctx) }), ahead: cfg.TokenRefreshAhead}
	t := &tokens{maxRetryAfter: cfg.MaxRetryAfter, fetch: func() oauth2.TokenSource {
		return oauth2.ReuseTokenSourceWithExpiry(nil, raw, cfg.TokenRefreshAhead)
	}}
	t.src = t.fetch()
	return t
}

type oauth2TokenSourceFunc func() (*oauth2.Token, error)

func (f oauth2TokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// refreshAhead keeps a short-lived token from being refreshed on every
// call: ReuseTokenSourceWithExpiry treats a token as expired `ahead`
// before its expiry, so for a token that lives less than 2×ahead the
// expiry is moved so that it is replaced after half its lifetime instead.
//
// Jumio may answer a token request with the token it issued before
// (docs/jumio.md 3.1), with the lifetime it has left: refreshing that one
// ahead again would ask again and again as its end nears. A token
// answered again is kept until its end instead.
type refreshAhead struct {
	src   oauth2.TokenSource
	ahead time.Duration

	mu   sync.Mutex
	last string // the access token last answered
}

func (r *refreshAhead) Token() (*oauth2.Token, error) {
	t, err := r.src.Token()
	if err != nil || t.Expiry.IsZero() {
		return t, err
	}
	r.mu.Lock()
	again := t.AccessToken == r.last
	r.last = t.AccessToken
	r.mu.Unlock()
	life := time.Until(t.Expiry)
	switch {
	case again && life > 0:
		// ReuseTokenSourceWithExpiry replaces it `ahead` before
		// Expiry: at its end, not before.
		t.Expiry = t.Expiry.Add(r.ahead)
	case life <= 0:
		// A lifetime of zero or less (expires_in ≤ 0) tells nothing:
		// the token is kept until Jumio answers 401, which renews it,
		// rather than fetched again for every request.
		t.Expiry = time.Time{}
	case life < 2*r.ahead:
		t.Expiry = t.Expiry.Add(r.ahead - life/2)
	}
	return t, nil
}

// Token returns the cached token, or waits for the one request that
// fetches a new one.
func (t *tokens) Token(ctx context.Context) (*oauth2.Token, error) {
	for {
		t.mu.Lock()
		if t.inflight != nil {
			ch := t.inflight
			t.mu.Unlock()
			select {
			case <-ch:
				t.mu.Lock()
				tok, err := t.last, t.lastErr
				t.mu.Unlock()
				if err != nil {
					return nil, err
				}
				if tok.Valid() {
					return tok, nil
				}
				continue
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		ch := make(chan struct{})
		t.inflight = ch
		src := t.src
		t.mu.Unlock()

		// The cached path returns at once; a refresh runs here, in the
		// caller's goroutine, while the others wait on ch.
		tok, err := src.Token()
		if err != nil {
			err = tokenError(err, t.maxRetryAfter)
		}
		t.mu.Lock()
		t.inflight = nil
		t.last, t.lastErr = tok, err
		if err == nil && t.src == src {
			t.cur = tok.AccessToken
		}
		close(ch)
		t.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return tok, nil
	}
}

// Invalidate drops the cached token if it is still bad (the token a 401
// was answered to), so that the next Token call fetches a new one. Calls
// for a token that was already replaced do nothing.
func (t *tokens) Invalidate(bad string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != "" && t.cur == bad {
		t.src = t.fetch()
		t.cur = ""
	}
}

// tokenError turns an oauth2 error into an *APIError for the token
// endpoint (status, OAuth2 error code, Retry-After), dropping the response
// body that oauth2 puts into its error string.
func tokenError(err error, maxRetryAfter time.Duration) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		ae := &APIError{
			Endpoint:   EndpointToken,
			Status:     re.Response.StatusCode,
			Code:       re.ErrorCode,
			RequestID:  requestID(re.Response.Header),
			RetryAfter: min(parseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now()), maxRetryAfter),
		}
		if ae.Code == "" {
			fillErrorBody(ae, re.Body)
		}
		return ae
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("jumio: %s: %w", EndpointToken, err)
}
