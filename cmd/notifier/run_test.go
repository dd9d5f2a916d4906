package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func routesFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const natsRoutes = "routes:\n  - name: all-results\n    policy: full\n    nats: {}\n"

func TestRunRejectsBadConfiguration(t *testing.T) {
	good := routesFile(t, natsRoutes)
	bad := routesFile(t, "routes:\n  - name: a\n    policy: full\n    webhook: {url: \"https://x.example/h\", secretEnv: MISSING}\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want error
	}{
		{"argument", []string{"serve"}, nil, errUsage},
		{"flag", []string{"-verbose"}, nil, errUsage},
		{"unparseable", nil, map[string]string{"KYCFLOW_NOTIFIER_ROUTES_FILE": good, "KYCFLOW_NOTIFIER_CONCURRENCY": "many"}, nil},
		{"no routes file", nil, nil, notifier.ErrInvalidRoutes},
		{"unreadable routes file", nil, map[string]string{"KYCFLOW_NOTIFIER_ROUTES_FILE": filepath.Join(t.TempDir(), "none.yaml")}, os.ErrNotExist},
		{"invalid routes file", []string{"-check"}, map[string]string{"KYCFLOW_NOTIFIER_ROUTES_FILE": bad}, notifier.ErrSecret},
		{"invalid setting", nil, map[string]string{"KYCFLOW_NOTIFIER_ROUTES_FILE": good, "KYCFLOW_NOTIFIER_DELIVERIES_TTL": "1m", "KYCFLOW_NATS_URL": "nats://127.0.0.1:1"}, notifier.ErrInvalidConfig},
		{"no broker", nil, map[string]string{"KYCFLOW_NOTIFIER_ROUTES_FILE": good, "KYCFLOW_NATS_URL": "nats://127.0.0.1:1", "KYCFLOW_NATS_CONNECT_TIMEOUT": "200ms"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t.Context(), tc.args, env(tc.env), io.Discard, io.Discard)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("run: got %v, want %v", err, tc.want)
			}
		})
	}
	if code := exitCode(errUsage); code != 2 {
		t.Errorf("exit code of a usage error: %d", code)
	}
	if code := exitCode(flag.ErrHelp); code != 0 {
		t.Errorf("exit code of -h: %d", code)
	}
	// -h prints the usage and the flags, and is no failure.
	var out bytes.Buffer
	err := run(t.Context(), []string{"-h"}, env(nil), io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 || !strings.Contains(out.String(), "usage: notifier") || !strings.Contains(out.String(), "-check") {
		t.Errorf("-h: got %v (exit %d) and %q, want the usage with -check and exit 0", err, exitCode(err), out.String())
	}
}

func TestCheckPrintsTheRoutes(t *testing.T) {
	var out bytes.Buffer
	path := filepath.Join("..", "..", "examples", "routes.yaml")
	getenv := env(map[string]string{
		"KYCFLOW_NOTIFIER_ROUTES_FILE":    path,
		"KYCFLOW_WEBHOOK_CRM_SECRETS":     notifiertest.Secret + " " + notifiertest.OldSecret,
		"KYCFLOW_WEBHOOK_SUPPORT_SECRETS": notifiertest.Secret,
	})
	if err := run(t.Context(), []string{"-check"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("run -check: %v", err)
	}
	for _, want := range []string{"4 routes", "crm-webhook", "notifier-crm-webhook", "no_pii", "webhook", "nats"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), strings.TrimPrefix(notifiertest.Secret, events.WebhookSecretPrefix)) {
		t.Error("output shows a secret")
	}
}

// TestRunDeliversUntilCancelled runs the notifier in-process against a
// real broker: a result published to JUMIO_ENRICHED reaches
// JUMIO_RESULTS, /readyz answers, and cancelling stops it cleanly.
func TestRunDeliversUntilCancelled(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"KYCFLOW_NATS_URL":             srv.URL(),
			"KYCFLOW_NOTIFIER_ADDR":        addr,
			"KYCFLOW_NOTIFIER_ROUTES_FILE": routesFile(t, natsRoutes),
			"KYCFLOW_LOG_FORMAT":           "json",
		}), io.Discard, io.Discard)
	}()
	waitReady(t, "http://"+addr+"/readyz", done)

	r := notifiertest.Result(1)
	body, err := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, Result: r, RawType: events.RawPlatformDetails})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(events.EnrichedSubject(r.IDs.AccountID, r.IDs.WorkflowExecutionID))
	m.Data = body
	m.Header.Set(events.HeaderMsgID, events.DerivedID(r.IDs.EventID, "enriched"))
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(brokertest.Messages(t, js, events.StreamResults)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no result published")
		}
	}
	// The delivery is counted once it is recorded, just after the result
	// is stored: wait for it.
	names := []string{"kycflow_notifier_delivered_total", "kycflow_notifier_route_disabled", "kycflow_notifier_delivery_latency_seconds_bucket"}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var missing []string
		for _, name := range names {
			if !strings.Contains(string(metrics), name) {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s", strings.Join(missing, ", "))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string, done <-chan error) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("run ended before it was ready: %v", err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
	}
}

// TestREADMEListsEveryVariable keeps the README's Notifier table in step
// with the code: every KYCFLOW_NOTIFIER_* variable with its default.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "### Notifier")
	end := strings.Index(readme[start+1:], "\n### ")
	if start < 0 || end < 0 {
		t.Fatal("README has no Notifier section")
	}
	section := readme[start : start+1+end]
	e := config.FromMap(nil)
	notifier.LoadConfig(e)
	n := 0
	for _, v := range e.Vars() {
		if !strings.HasPrefix(v.Key, "KYCFLOW_NOTIFIER_") {
			continue
		}
		n++
		row := "| `" + v.Key + "` | "
		if v.Default != "" {
			row += "`" + v.Default + "` |"
		}
		if !strings.Contains(section, row) {
			t.Errorf("README Notifier section lacks the row %q", row)
		}
	}
	if n == 0 {
		t.Error("LoadConfig read no KYCFLOW_NOTIFIER_* variable")
	}
}
