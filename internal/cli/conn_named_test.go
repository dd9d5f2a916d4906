package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestNamedDataDirWithoutARunIsNotReplaced: an operator command pointed at
// a data directory (--data-dir, or KYCFLOW_DATA_DIR) that holds no running
// kycflow run, and at no server, refuses rather than use NATS's default
// URL, which may be another kycflow's: a purge or a redrive would change
// it without a word.
func TestNamedDataDirWithoutARunIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"--data-dir", []string{"dlq", "purge", "--dry-run", "--data-dir", dir}, nil},
		{"KYCFLOW_DATA_DIR", []string{"streams"}, map[string]string{"KYCFLOW_DATA_DIR": dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(t.Context(), tc.args, func(k string) string { return tc.env[k] }, nil, &out, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), "no kycflow run found in "+dir) || !strings.Contains(errOut.String(), "not falling back to nats://127.0.0.1:4222") {
				t.Errorf("exit %d, stderr %q: want a refusal naming the directory", code, errOut.String())
			}
		})
	}
}
