package httpserver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ProblemTypeBase prefixes every problem type URI; the suffix is a stable
// reason ("source-not-allowed", "body-too-large", …) that clients can match
// on.
const ProblemTypeBase = "https://kycflow.dev/problems/"

// ProblemDetails is an RFC 9457 problem document.
type ProblemDetails struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Problem writes an RFC 9457 problem document with the given status and
// reason (the last segment of its type URI). detail must not hold personal
// data or request bodies.
// The instance is the request's path; a server whose paths hold secrets
// writes its own instance with WriteProblem.
func Problem(w http.ResponseWriter, r *http.Request, status int, reason, title, detail string) {
	p := ProblemDetails{Type: ProblemTypeBase + reason, Title: title, Status: status, Detail: detail}
	if r != nil {
		p.Instance = r.URL.Path
	}
	WriteProblem(w, p)
}

// WriteProblem writes p as the response, with p.Status as its status.
// p.Detail and p.Instance must not hold personal data, request bodies or
// secrets.
func WriteProblem(w http.ResponseWriter, p ProblemDetails) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// RetryAfter sets the Retry-After header in whole seconds (at least 1).
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

// MaxBytes limits request bodies to n bytes through http.MaxBytesReader;
// reading past the limit returns an *http.MaxBytesError.
func MaxBytes(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}
