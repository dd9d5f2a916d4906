package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
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
		Hosts:    wire.Hosts{Auth: base, Account: base, API: base, Retrieval: base, Netverify: base, Status: base},
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
	for _, args := range [][]string{{"-mix", "passed=x"}, {"-fail-endpoint", "nope"}, {"extra"}, {"-no-such-flag"},
		{"-revoke-every", "-1s"}, {"-revoke-every", "often"}} {
		err := run(t.Context(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	// -h prints the flags and exits 0; main prints no error for it.
	var out bytes.Buffer
	err := run(t.Context(), []string{"-h"}, func(string) string { return "" }, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 || !strings.Contains(out.String(), "-callback-url") {
		t.Errorf("-h: got %v (exit %d), want the flags and exit 0", err, exitCode(err))
	}
}

// bearer fetches a token from the simulator at base the way the jumio
// client does.
func bearer(t *testing.T, base string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+jumio.PathToken, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(jumiotest.DefaultClientID, jumiotest.DefaultClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "kycflow-test/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: status %d, err %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// statusWith asks for an unknown execution's status with token: 404
// while the token is good, 401 once it is revoked.
func statusWith(t *testing.T, base, token string) int {
	t.Helper()
	id := "11111111-2222-4333-8444-555555555555"
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+jumio.PathAccounts+"/"+id+"/workflow-executions/"+id+"/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "kycflow-test/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunRevokesTokensOnSchedule(t *testing.T) {
	base, stop := startRun(t, []string{"-listen", "127.0.0.1:0", "-executions", "0", "-netverify", "0", "-budget", "0",
		"-revoke-every", "50ms"}, nil)
	// Two tokens in turn: each works, then stops working once a tick has
	// revoked it, so the ticker keeps running.
	for i := range 2 {
		tok := bearer(t, base)
		if got := statusWith(t, base, tok); got != http.StatusNotFound && got != http.StatusUnauthorized {
			t.Fatalf("token %d: got %d, want 404 (unknown execution) or 401 (already revoked)", i, got)
		}
		deadline := time.Now().Add(10 * time.Second)
		for statusWith(t, base, tok) != http.StatusUnauthorized {
			if time.Now().After(deadline) {
				t.Fatalf("token %d was never revoked", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if out := stop(); !strings.Contains(out, "revoked every 50ms") {
		t.Errorf("output does not name the revocation interval:\n%s", out)
	}
}

// detailsDir copies the Platform workflow details fixtures of pkg/jumio
// into a new directory, with a file that is not JSON beside them.
func detailsDir(t *testing.T) (string, []wire.WorkflowDetails) {
	t.Helper()
	dir := t.TempDir()
	paths, _ := filepath.Glob(filepath.Join("..", "..", "pkg", "jumio", "testdata", "platform", "details-*.json"))
	if len(paths) < 3 {
		t.Fatalf("found %d details fixtures, want 3 or more", len(paths))
	}
	var want []wire.WorkflowDetails
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d wire.WorkflowDetails
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
		writeFile(t, filepath.Join(dir, filepath.Base(p)), string(b))
	}
	writeFile(t, filepath.Join(dir, "README.md"), "not a details file")
	return dir, want
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRunServesDetailsFiles(t *testing.T) {
	dir, want := detailsDir(t)
	base, stop := startRun(t, []string{"-listen", "127.0.0.1:0", "-executions", "0", "-netverify", "0", "-details", dir}, nil)
	c, err := jumio.NewClient(jumio.Config{
		Hosts:    wire.Hosts{Auth: base, Account: base, API: base, Retrieval: base, Netverify: base, Status: base},
		ClientID: jumiotest.DefaultClientID, ClientSecret: jumiotest.DefaultClientSecret, UserAgent: "kycflow-test/1.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got, _, err := c.WorkflowDetails(t.Context(), w.Account.ID, w.Workflow.ID)
		if err != nil {
			t.Fatalf("WorkflowDetails %s: %v", w.Workflow.ID, err)
		}
		if diff := cmp.Diff(w.Workflow, got.Workflow); diff != "" {
			t.Errorf("workflow %s (-file +served):\n%s", w.Workflow.ID, diff)
		}
		if diff := cmp.Diff(w.Decision, got.Decision); diff != "" {
			t.Errorf("decision of %s (-file +served):\n%s", w.Workflow.ID, diff)
		}
	}
	out := stop()
	for _, line := range []string{fmt.Sprintf("executions: %d Platform", len(want)), fmt.Sprintf("details: %d executions from %s", len(want), dir)} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

func TestRunRejectsBadDetailsFiles(t *testing.T) {
	// personal stands for personal data in a file: no error may show it.
	const personal = "JOHN-Q-PUBLIC"
	const acct, exec = "30d60727-7d5a-44f0-80f6-76c2679a2de4", "a3d9de27-b5b5-492f-9389-7eef5b6f106b"
	valid := `{"workflow":{"id":"` + exec + `","status":"PROCESSED"},"account":{"id":"` + acct + `"}}`
	for _, tc := range []struct {
		name string
		body string // of bad.json, next to good.json (valid)
	}{
		{"not JSON", `{"workflow":{"id":"` + personal},
		{"empty", ``},
		{"wrong type", `{"workflow":"` + personal + `"}`},
		{"wrong kind of value", `{"workflow":{"id":"` + exec + `","definitionKey":{"name":"` + personal + `"}},"account":{"id":"` + acct + `"}}`},
		{"no ids", `{"workflow":{"status":"` + personal + `"}}`},
		{"ids not UUIDs", `{"workflow":{"id":"` + personal + `"},"account":{"id":"` + personal + `"}}`},
		{"same id as another file", valid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "a-good.json"), valid)
			bad := filepath.Join(dir, "bad.json")
			writeFile(t, bad, tc.body)
			err := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-details", dir}, func(string) string { return "" }, io.Discard, io.Discard)
			var de *detailsError
			if !errors.As(err, &de) || de.Path != bad {
				t.Fatalf("got %v, want a details error for %s", err, bad)
			}
			if strings.Contains(err.Error(), personal) {
				t.Errorf("the error quotes the file: %v", err)
			}
			if exitCode(err) != 1 {
				t.Errorf("exit code %d, want 1", exitCode(err))
			}
		})
	}
	for name, dir := range map[string]string{"missing directory": filepath.Join(t.TempDir(), "none"), "no JSON files": t.TempDir()} {
		t.Run(name, func(t *testing.T) {
			err := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-details", dir}, func(string) string { return "" }, io.Discard, io.Discard)
			var de *detailsError
			if !errors.As(err, &de) || de.Path != dir {
				t.Fatalf("got %v, want a details error for %s", err, dir)
			}
		})
	}
}
