package main

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testSecret = "jumiosim-test-path-secret-0123"

// ingestLike answers as kycflow ingest routes callbacks: JSON on
// /callbacks/platform/<secret>, forms on /callbacks/netverify/<secret>,
// 415 for the wrong content type, 404 for any other path. It returns the
// statuses it answered by API.
func ingestLike(t *testing.T, secret string) (*httptest.Server, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		api, status := "other", http.StatusNotFound
		switch r.URL.Path {
		case "/callbacks/platform/" + secret:
			api, status = "platform", http.StatusOK
			if ct != "application/json" {
				status = http.StatusUnsupportedMediaType
			}
		case "/callbacks/netverify/" + secret:
			api, status = "netverify", http.StatusOK
			if ct != "application/x-www-form-urlencoded" {
				status = http.StatusUnsupportedMediaType
			}
		}
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got[api+" "+http.StatusText(status)]++
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rs.Close)
	return rs, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

// waitFor polls until got has n callbacks in all.
func waitFor(got func() map[string]int, n int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sum := 0
		for _, v := range got() {
			sum += v
		}
		if sum >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunCallbacksToIngest: given ingest's Platform URL and the path
// secret in the environment (or a file), jumiosim posts each API's
// callbacks to its own path with the secret appended, and never prints
// the secret.
func TestRunCallbacksToIngest(t *testing.T) {
	file := filepath.Join(t.TempDir(), "path-secret")
	if err := os.WriteFile(file, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"variable": {"KYCFLOW_INGEST_PATH_SECRET": testSecret},
		"file":     {"KYCFLOW_INGEST_PATH_SECRET_FILE": file},
	} {
		t.Run(name, func(t *testing.T) {
			rs, got := ingestLike(t, testSecret)
			_, stop := startRun(t, []string{"-listen", "127.0.0.1:0", "-executions", "3", "-netverify", "2",
				"-mix", "passed=1", "-callback-url", rs.URL + "/callbacks/platform", "-callback-delay", "0s", "-callback-rate", "0"}, env)
			waitFor(got, 5)
			out := stop()
			want := map[string]int{"platform OK": 3, "netverify OK": 2}
			if diff := cmp.Diff(want, got()); diff != "" {
				t.Errorf("callbacks received (-want +got):\n%s\noutput:\n%s", diff, out)
			}
			if strings.Contains(out, testSecret) {
				t.Errorf("output shows the path secret:\n%s", out)
			}
			for _, w := range []string{
				"callbacks: platform to " + rs.URL + "/callbacks/platform/" + secretPlaceholder,
				"callbacks: netverify to " + rs.URL + "/callbacks/netverify/" + secretPlaceholder,
				"sent 5 callbacks",
			} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestRunSkipsUnderivableNetverify: a callback URL that is not ingest's
// gets the Platform callbacks only, and the output says why.
func TestRunSkipsUnderivableNetverify(t *testing.T) {
	rs, got := ingestLike(t, "x")
	_, stop := startRun(t, []string{"-listen", "127.0.0.1:0", "-executions", "2", "-netverify", "2", "-mix", "passed=1",
		"-callback-url", rs.URL + "/hook", "-callback-delay", "0s", "-callback-rate", "0"}, nil)
	waitFor(got, 2)
	out := stop()
	if diff := cmp.Diff(map[string]int{"other Not Found": 2}, got()); diff != "" {
		t.Errorf("callbacks received (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "no Netverify callbacks") || !strings.Contains(out, "sent 2 callbacks") {
		t.Errorf("output does not say Netverify callbacks are skipped:\n%s", out)
	}
}

// TestRunBlanksSecretOnCommandLine: a secret segment given in the URL
// (not recommended) is blanked out when printed.
func TestRunBlanksSecretOnCommandLine(t *testing.T) {
	rs, got := ingestLike(t, testSecret)
	_, stop := startRun(t, []string{"-listen", "127.0.0.1:0", "-executions", "1", "-netverify", "1", "-mix", "passed=1",
		"-callback-url", rs.URL + "/callbacks/platform/" + testSecret, "-callback-delay", "0s", "-callback-rate", "0"}, nil)
	waitFor(got, 2)
	out := stop()
	if diff := cmp.Diff(map[string]int{"platform OK": 1, "netverify OK": 1}, got()); diff != "" {
		t.Errorf("callbacks received (-want +got):\n%s", diff)
	}
	if strings.Contains(out, testSecret) || !strings.Contains(out, "/callbacks/platform/<secret>") ||
		!strings.Contains(out, "KYCFLOW_INGEST_PATH_SECRET (or _FILE)") {
		t.Errorf("output shows the secret or lacks the hint:\n%s", out)
	}
}

func TestResolveCallbacksRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      options
		secret string
	}{
		{"segment and secret", options{callbackURL: "http://h/callbacks/platform/seg"}, "s"},
		{"segment and secret, netverify", options{callbackNetverifyURL: "http://h/callbacks/netverify/seg"}, "s"},
		{"not a URL", options{callbackURL: "ingest:8080/callbacks/platform"}, ""},
		{"relative", options{callbackNetverifyURL: "/callbacks/netverify"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := resolveCallbacks(tc.o, tc.secret); !errors.Is(err, errUsage) {
				t.Errorf("got %v, want a usage error", err)
			}
		})
	}
}

func TestShowBlanksSecrets(t *testing.T) {
	for _, tc := range []struct {
		secret, url, want string
	}{
		{"abc-secret", "http://h:1/callbacks/platform/abc-secret", "http://h:1/callbacks/platform/" + secretPlaceholder},
		{"abc-secret", "http://h:1/hook/abc-secret", "http://h:1/hook/" + secretPlaceholder},
		{"", "http://h:1/p/callbacks/netverify/abc", "http://h:1/p/callbacks/netverify/<secret>"},
		{"", "http://user:pw@h:1/hook", "http://user:xxxxx@h:1/hook"},
		{"", "http://h:1/callbacks/platform", "http://h:1/callbacks/platform"},
	} {
		if got := (callbackTargets{secret: tc.secret}).show(tc.url); got != tc.want {
			t.Errorf("show(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}
