package broker_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
)

// TestConnectAuthentication: every way of logging in to NATS, configured
// through the KYCFLOW_NATS_* variables as a service reads them, opens the
// connection and provisions the streams with the right credentials and is
// refused with wrong ones. No secret reaches an error or a log line.
func TestConnectAuthentication(t *testing.T) {
	const (
		password = "pw-3c1f0d9e7a"
		token    = "tok-8b2e4f6a1d"
	)
	seed, otherSeed := userSeed(t), userSeed(t)
	seedFile, otherSeedFile := writeFile(t, "user.nk", seed), writeFile(t, "other.nk", otherSeed)
	operator := brokertest.NewOperator(t)
	foreign := brokertest.NewOperator(t) // its user is not known to the server
	ca, otherCA := brokertest.NewCA(t), brokertest.NewCA(t)
	clientCert, clientKey := ca.Issue(t, "kycflow")
	strangerCert, strangerKey := otherCA.Issue(t, "stranger")

	authErr := func(err error) bool { return errors.Is(err, nats.ErrAuthorization) }
	unknownCA := func(err error) bool {
		var ua x509.UnknownAuthorityError
		return errors.As(err, &ua)
	}
	// A server that wants a client certificate it does not get or cannot
	// verify sends an alert and closes the connection; the client reads
	// the alert or, when it writes first, finds the connection closed.
	refusedHandshake := func(err error) bool {
		var op *net.OpError
		return errors.Is(err, nats.ErrTLS) || errors.As(err, &op) && op.Op == "remote error"
	}
	for _, tc := range []struct {
		name   string
		server brokertest.Options
		env    map[string]string
		// wantErr is nil when the connection must succeed.
		wantErr func(error) bool
	}{
		{"user and password", brokertest.Options{User: "kycflow", Password: password},
			map[string]string{"KYCFLOW_NATS_USER": "kycflow", "KYCFLOW_NATS_PASSWORD": password}, nil},
		{"password from a file", brokertest.Options{User: "kycflow", Password: password},
			map[string]string{"KYCFLOW_NATS_USER": "kycflow", "KYCFLOW_NATS_PASSWORD_FILE": writeFile(t, "password", password+"\n")}, nil},
		{"wrong password", brokertest.Options{User: "kycflow", Password: password},
			map[string]string{"KYCFLOW_NATS_USER": "kycflow", "KYCFLOW_NATS_PASSWORD": password + "x"}, authErr},
		{"no credentials", brokertest.Options{User: "kycflow", Password: password}, nil, authErr},
		{"token", brokertest.Options{Token: token}, map[string]string{"KYCFLOW_NATS_TOKEN": token}, nil},
		{"wrong token", brokertest.Options{Token: token}, map[string]string{"KYCFLOW_NATS_TOKEN": token + "x"}, authErr},
		{"nkey seed file", brokertest.Options{NKeySeed: seed}, map[string]string{"KYCFLOW_NATS_NKEY_SEED_FILE": seedFile}, nil},
		{"another user's nkey", brokertest.Options{NKeySeed: seed}, map[string]string{"KYCFLOW_NATS_NKEY_SEED_FILE": otherSeedFile}, authErr},
		{"credentials file", brokertest.Options{Operator: operator}, map[string]string{"KYCFLOW_NATS_CREDS_FILE": operator.CredsFile}, nil},
		{"credentials of another operator", brokertest.Options{Operator: operator}, map[string]string{"KYCFLOW_NATS_CREDS_FILE": foreign.CredsFile}, authErr},
		{"TLS", brokertest.Options{TLS: ca}, map[string]string{"KYCFLOW_NATS_TLS_CA_FILE": ca.File}, nil},
		{"TLS with a password", brokertest.Options{TLS: ca, User: "kycflow", Password: password},
			map[string]string{"KYCFLOW_NATS_TLS_CA_FILE": ca.File, "KYCFLOW_NATS_USER": "kycflow", "KYCFLOW_NATS_PASSWORD": password}, nil},
		{"TLS signed by another CA", brokertest.Options{TLS: ca}, map[string]string{"KYCFLOW_NATS_TLS_CA_FILE": otherCA.File}, unknownCA},
		{"TLS without a CA", brokertest.Options{TLS: ca}, nil, unknownCA},
		{"client certificate", brokertest.Options{TLS: ca, VerifyClients: true},
			map[string]string{"KYCFLOW_NATS_TLS_CA_FILE": ca.File, "KYCFLOW_NATS_TLS_CERT_FILE": clientCert, "KYCFLOW_NATS_TLS_KEY_FILE": clientKey}, nil},
		{"client certificate of another CA", brokertest.Options{TLS: ca, VerifyClients: true},
			map[string]string{"KYCFLOW_NATS_TLS_CA_FILE": ca.File, "KYCFLOW_NATS_TLS_CERT_FILE": strangerCert, "KYCFLOW_NATS_TLS_KEY_FILE": strangerKey}, refusedHandshake},
		{"no client certificate", brokertest.Options{TLS: ca, VerifyClients: true},
			map[string]string{"KYCFLOW_NATS_TLS_CA_FILE": ca.File}, refusedHandshake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := brokertest.StartWith(t, tc.server)
			env := map[string]string{"KYCFLOW_NATS_URL": srv.URL(), "KYCFLOW_NATS_CONNECT_TIMEOUT": "5s"}
			for k, v := range tc.env {
				env[k] = v
			}
			e := config.FromMap(env)
			cfg := broker.LoadConfig(e)
			if err := e.Err(); err != nil {
				t.Fatalf("config: %v", err)
			}
			var logs bytes.Buffer
			nc, js, err := broker.Open(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if nc != nil {
				defer nc.Close()
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Open: %v", err)
			case tc.wantErr == nil:
				if err := broker.Ready(t.Context(), nc, js, broker.StreamNames...); err != nil {
					t.Errorf("Ready: %v", err)
				}
			case err == nil:
				t.Fatal("Open: got nil error, want it refused")
			case !tc.wantErr(err):
				t.Errorf("Open: got %v (%T), not the error class wanted", err, errors.Unwrap(err))
			}
			// The test helpers log in to every kind of server too.
			srv.JetStream(t)

			secrets := []string{password, token, seed, otherSeed}
			for _, f := range []string{operator.CredsFile, foreign.CredsFile, clientKey, strangerKey} {
				secrets = append(secrets, keyLines(t, f)...)
			}
			for _, text := range []string{errText(err), logs.String()} {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("a secret appears in %q", text)
					}
				}
			}
		})
	}
}

// TestConnectBadSeedFile: a seed file that holds no seed is refused before
// connecting, and the error does not quote the file.
func TestConnectBadSeedFile(t *testing.T) {
	srv := brokertest.StartWith(t, brokertest.Options{NKeySeed: userSeed(t)})
	const content = "SUAnot-a-seed-5f2c"
	cfg := broker.LoadConfig(config.FromMap(map[string]string{
		"KYCFLOW_NATS_URL":            srv.URL(),
		"KYCFLOW_NATS_NKEY_SEED_FILE": writeFile(t, "bad.nk", content),
	}))
	_, err := broker.Connect(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("Connect: got nil error for a file without a seed")
	}
	if strings.Contains(err.Error(), content) {
		t.Errorf("the error quotes the file: %v", err)
	}
}

func userSeed(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return string(seed)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyLines returns the lines of a key or credentials file that hold key
// material (JWT, seed, PEM body), without banners and blank lines.
func keyLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "-----") && !strings.HasPrefix(line, "*") && !strings.HasPrefix(line, "NATS") {
			out = append(out, line)
		}
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
