package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestSendHintsAtThePathSecret: when every callback is answered 404, send
// says that ingest may have a secret path segment and how to give it;
// other failures get no such hint.
func TestSendHintsAtThePathSecret(t *testing.T) {
	for _, tc := range []struct {
		status int
		hint   bool
	}{{http.StatusNotFound, true}, {http.StatusServiceUnavailable, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
		var out, errOut ingesttest.SyncBuffer
		code := Main(t.Context(), []string{"send", "--url", srv.URL, "--samples"}, func(string) string { return "" }, nil, &out, &errOut)
		srv.Close()
		if code != 1 {
			t.Errorf("%d: exit %d, want 1", tc.status, code)
		}
		if got := strings.Contains(errOut.String(), "KYCFLOW_INGEST_PATH_SECRET"); got != tc.hint {
			t.Errorf("%d: hint at the path secret %v, want %v:\n%s", tc.status, got, tc.hint, errOut.String())
		}
	}
}

// TestSendReadsTheSecretsFromFiles: send reads the path secret as ingest
// does, from KYCFLOW_INGEST_PATH_SECRET_FILE too (a pod's mounted
// Secret); it posted to the bare paths, and every callback was answered
// 404.
func TestSendReadsTheSecretsFromFiles(t *testing.T) {
	const secret = "file-segment-0123456789"
	var mu sync.Mutex
	var paths []string
	printed := sendSamplesWithSecretFile(t, "KYCFLOW_INGEST_PATH_SECRET_FILE", secret+"\n", func(r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 {
		t.Fatal("nothing sent")
	}
	for _, p := range paths {
		if !strings.HasSuffix(p, "/"+secret) {
			t.Errorf("posted to %s, not under the secret path segment", p)
		}
	}
	if strings.Contains(printed, secret) {
		t.Error("the path secret was printed")
	}
}

// TestSendSamplesSignTheUserReference: with
// KYCFLOW_INGEST_USER_REFERENCE_SECRETS (or its _FILE) set, the Platform
// sample carries a userReference signed with the first secret, as the
// other modes' callbacks do and as send --help says; it went out with its
// plain sample value, which ingest refused with 403.
func TestSendSamplesSignTheUserReference(t *testing.T) {
	const secret = "sample-signing-secret-0123456789"
	var mu sync.Mutex
	var refs []string
	sendSamplesWithSecretFile(t, "KYCFLOW_INGEST_USER_REFERENCE_SECRETS_FILE", secret+",older-secret-0123456789\n", func(r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/callbacks/platform") {
			return
		}
		var cb struct {
			UserReference string `json:"userReference"`
		}
		if err := json.NewDecoder(r.Body).Decode(&cb); err != nil {
			t.Errorf("platform body: %v", err)
		}
		mu.Lock()
		refs = append(refs, cb.UserReference)
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	if len(refs) == 0 {
		t.Fatal("no Platform sample sent")
	}
	for _, ref := range refs {
		if _, err := wire.VerifyUserReference(ref, [][]byte{[]byte(secret)}, time.Hour, time.Now()); err != nil {
			t.Errorf("userReference %q: %v", ref, err)
		}
	}
}

// sendSamplesWithSecretFile runs "kycflow send --samples" against a server that hands
// every request to seen, with the variable fileVar naming a file that
// holds content; it returns what send printed.
func sendSamplesWithSecretFile(t *testing.T, fileVar, content string, seen func(*http.Request)) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen(r) }))
	defer srv.Close()
	var out, errOut ingesttest.SyncBuffer
	env := map[string]string{fileVar: file}
	if code := Main(t.Context(), []string{"send", "--url", srv.URL, "--samples"}, func(k string) string { return env[k] }, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut.String())
	}
	return out.String() + errOut.String()
}
