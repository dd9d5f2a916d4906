package jumio_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func TestConfigValidate(t *testing.T) {
	ok := jumio.Config{ClientID: "id", ClientSecret: "secret"}
	for _, tc := range []struct {
		name string
		mod  func(*jumio.Config)
		ok   bool
	}{
		{"oauth2 only", func(*jumio.Config) {}, true},
		{"netverify only", func(c *jumio.Config) { *c = jumio.Config{NetverifyAPIToken: "t", NetverifyAPISecret: "s"} }, true},
		{"deprecated basic only", func(c *jumio.Config) { *c = jumio.Config{PlatformAPIToken: "t", PlatformAPISecret: "s"} }, true},
		{"no credentials", func(c *jumio.Config) { *c = jumio.Config{} }, false},
		{"half a pair", func(c *jumio.Config) { c.NetverifyAPIToken = "t" }, false},
		{"unknown region", func(c *jumio.Config) { c.Region = "mars-1" }, false},
		{"host with credentials", func(c *jumio.Config) { c.Hosts.Retrieval = "https://user:pw@example.com" }, false},
		{"host not a URL", func(c *jumio.Config) { c.Hosts.Auth = "auth.example.com" }, false},
		{"Go's user agent", func(c *jumio.Config) { c.UserAgent = "Go-http-client/1.1" }, false},
		{"negative rate", func(c *jumio.Config) { c.RateLimit = -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			_, err := jumio.NewClient(cfg)
			if tc.ok && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !tc.ok && !errors.Is(err, jumio.ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := jumio.NewClient(jumio.Config{ClientID: "id", ClientSecret: "secret", Region: wire.RegionEMEA,
		Hosts: wire.Hosts{Retrieval: "http://127.0.0.1:9/"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Config()
	if cfg.Hosts.Retrieval != "http://127.0.0.1:9" || cfg.Hosts.Auth != "https://auth.emea-1.jumio.ai" || cfg.Hosts.Netverify != "https://lon.netverify.com" {
		t.Errorf("hosts %+v: want the override without its slash and emea-1 for the rest", cfg.Hosts)
	}
	if cfg.UserAgent != jumio.DefaultUserAgent || cfg.RateLimit != 15 || cfg.TokenRateLimit != 10 || cfg.MaxAttempts != 3 {
		t.Errorf("defaults: %s, attempts %d", cfg, cfg.MaxAttempts)
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := jumio.Config{ClientID: "the-client-id", ClientSecret: "s3cr3t-oauth", NetverifyAPIToken: "nv-token", NetverifyAPISecret: "s3cr3t-nv"}
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("config", "jumio", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), log.String()} {
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "nv-token") {
			t.Errorf("printed a secret: %s", s)
		}
	}
}
