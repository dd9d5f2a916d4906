package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
)

// startRun runs the command in the background and returns its base URL
// and the rest of its output.
func startRun(t *testing.T, args []string, env map[string]string) (string, func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, args, func(k string) string { return env[k] }, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base string
	var out strings.Builder
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if u, ok := strings.CutPrefix(line, "jumiosim: serving a Jumio simulator on "); ok {
			base = u
		}
		if strings.HasPrefix(line, "  clients:") {
			break
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no base URL in the output:\n%s (err %v)", out.String(), <-errc)
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pr)
		rest <- string(b)
	}()
	var stopped atomic.Bool
	stop := func() string {
		if stopped.Swap(true) {
			return ""
		}
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
		return out.String() + <-rest
	}
	t.Cleanup(func() { stop() })
	return base, stop
}

func TestRunServesAndPrints(t *testing.T) {
	env := map[string]string{"KYCFLOW_JUMIO_CLIENT_ID": "demo", "KYCFLOW_JUMIO_CLIENT_SECRET": "demo-secret-value"}
	base, stop := startRun(t, []string{"-listen", "127.0.0.1:0", "-executions", "3", "-netverify", "2", "-seed", "4"}, env)
	c, err := jumio.NewClient(jumio.Config{
		Hosts:    jumio.Hosts{Auth: base, Account: base, API: base, Retrieval: base, Netverify: base},
		ClientID: "demo", ClientSecret: "demo-secret-value", UserAgent: "kycflow-test/1.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckCredentials(t.Context()); err != nil {
		t.Fatalf("token from the simulator: %v", err)
	}
	out := stop()
	for _, want := range []string{"executions: 3 Platform", "2 Netverify", `OAuth2 client "demo"`, "from KYCFLOW_JUMIO_CLIENT_SECRET", "jumiosim: stopping"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "demo-secret-value") {
		t.Errorf("output shows the secret:\n%s", out)
	}
}

func TestRunSendsCallbacks(t *testing.T) {
	var got atomic.Int64
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer rs.Close()
	_, stop := startRun(t, []string{"-listen", "127.0.0.1:0", "-executions", "3", "-netverify", "1", "-callback-url", rs.URL,
		"-callback-netverify-url", rs.URL, "-callback-delay", "0s", "-callback-rate", "0", "-callback-duplicates", "1"}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := stop()
	if got.Load() != 8 || !strings.Contains(out, "sent 8 callbacks") {
		t.Errorf("receiver got %d callbacks, want 8 (4 and a duplicate each); output:\n%s", got.Load(), out)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-mix", "passed=x"}, {"-fail-endpoint", "nope"}, {"extra"}, {"-no-such-flag"}} {
		err := run(t.Context(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}
