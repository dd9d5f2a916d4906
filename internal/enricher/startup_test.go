package enricher_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestStartupWarnsNetverifyUnconfirmed: an enricher that does not confirm
// Netverify callbacks against Jumio says so at startup, at WARN, naming
// why (the setting or the missing credentials); one that confirms says
// nothing about it.
func TestStartupWarnsNetverifyUnconfirmed(t *testing.T) {
	const msg = "Netverify callbacks not confirmed"
	for _, tc := range []struct {
		name   string
		change func(*enricher.Config)
		want   string // "" for no warning
	}{
		{"confirmed by default", func(*enricher.Config) {}, ""},
		{"turned off", func(c *enricher.Config) { c.NetverifyConfirm = enricher.ConfirmOff }, "KYCFLOW_ENRICHER_NETVERIFY_CONFIRM=false"},
		{"no Netverify credentials", func(c *enricher.Config) { c.Jumio.NetverifyAPIToken, c.Jumio.NetverifyAPISecret = "", "" },
			"no KYCFLOW_JUMIO_NETVERIFY_API_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, jumiotest.Config{})
			var logs lockedBuffer
			h.tel.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			cfg := h.config()
			tc.change(&cfg)
			if _, err := enricher.New(cfg, h.nc, nil, h.tel); err != nil {
				t.Fatal(err)
			}
			var warned []string
			for line := range strings.SplitSeq(logs.String(), "\n") {
				var rec struct{ Msg, Level, Check string }
				if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, msg) {
					if rec.Level != "WARN" {
						t.Errorf("level %s, want WARN", rec.Level)
					}
					warned = append(warned, rec.Check)
				}
			}
			switch {
			case tc.want == "" && len(warned) > 0:
				t.Errorf("warned %q, want no warning", warned)
			case tc.want != "" && (len(warned) != 1 || !strings.Contains(warned[0], tc.want)):
				t.Errorf("warned %q, want one warning naming %q", warned, tc.want)
			}
		})
	}
}
