package ingest

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestConfigDefaultsAreValid(t *testing.T) {
	e := config.FromMap(nil)
	cfg := LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !cfg.CheckSourceIP || len(cfg.allowedSources()) != 9 {
		t.Errorf("default: source check %v with %d addresses, want on with Jumio's 9 amer-1 addresses", cfg.CheckSourceIP, len(cfg.allowedSources()))
	}
	if cfg.checksUserReference("platform") {
		t.Errorf("userReference checked without secrets")
	}
	// /metrics and the readiness details are on their own port by
	// default, not on the port the internet reaches.
	if cfg.AdminAddr != DefaultAdminAddr || DefaultAdminAddr == "" || sameListenAddr(cfg.AdminAddr, cfg.Server.Addr) {
		t.Errorf("default admin address %q (callbacks on %q), want %q apart", cfg.AdminAddr, cfg.Server.Addr, DefaultAdminAddr)
	}
	if got := LoadConfig(config.FromMap(map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": "off"})).AdminAddr; got != "" {
		t.Errorf("KYCFLOW_INGEST_ADMIN_ADDR=off: admin address %q, want none", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		key  string
	}{
		{"region", map[string]string{"KYCFLOW_JUMIO_REGION": "mars-1"}, "KYCFLOW_JUMIO_REGION"},
		{"short secret", map[string]string{"KYCFLOW_INGEST_PATH_SECRET": "short"}, "KYCFLOW_INGEST_PATH_SECRET"},
		{"secret with a slash", map[string]string{"KYCFLOW_INGEST_PATH_SECRET": "abcdefghijklmnop/q"}, "KYCFLOW_INGEST_PATH_SECRET"},
		{"allowed sources", map[string]string{"KYCFLOW_INGEST_ALLOWED_SOURCES": "10.0.0.0/33"}, "KYCFLOW_INGEST_ALLOWED_SOURCES"},
		{"trusted proxies", map[string]string{"KYCFLOW_INGEST_TRUSTED_PROXIES": "lb.internal"}, "KYCFLOW_INGEST_TRUSTED_PROXIES"},
		{"user reference APIs", map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_APIS": "platform,soap"}, "KYCFLOW_INGEST_USER_REFERENCE_APIS"},
		{"user reference secrets", map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_SECRETS": " , "}, "KYCFLOW_INGEST_USER_REFERENCE_SECRETS"},
		{"rate", map[string]string{"KYCFLOW_INGEST_RATE_LIMIT": "-1"}, "KYCFLOW_INGEST_RATE_LIMIT"},
		{"IPv6 prefix too short", map[string]string{"KYCFLOW_INGEST_RATE_LIMIT_IPV6_PREFIX": "8"}, "KYCFLOW_INGEST_RATE_LIMIT_IPV6_PREFIX"},
		{"IPv6 prefix too long", map[string]string{"KYCFLOW_INGEST_RATE_LIMIT_IPV6_PREFIX": "129"}, "KYCFLOW_INGEST_RATE_LIMIT_IPV6_PREFIX"},
		{"admin address without a port", map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": "9090"}, "KYCFLOW_INGEST_ADMIN_ADDR"},
		{"admin port out of range", map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": ":70000"}, "KYCFLOW_INGEST_ADMIN_ADDR"},
		{"admin port not a number", map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": "localhost:admin"}, "KYCFLOW_INGEST_ADMIN_ADDR"},
		{"admin address is the callback address", map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": "0.0.0.0:8080"}, "KYCFLOW_INGEST_ADMIN_ADDR"},
		{"admin port on the callback port", map[string]string{"KYCFLOW_INGEST_ADDR": "127.0.0.1:9090", "KYCFLOW_INGEST_ADMIN_ADDR": ":9090"}, "KYCFLOW_INGEST_ADMIN_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := LoadConfig(config.FromMap(tc.env))
			cfg.setDefaults()
			err := cfg.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
			var ve *VarError
			if !errors.As(err, &ve) || ve.Var != tc.key {
				t.Errorf("got %v, want a *VarError for %s", err, tc.key)
			}
			if _, err := New(cfg, nil, nil); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New: got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigAdminAddrValid(t *testing.T) {
	for _, env := range []map[string]string{
		{"KYCFLOW_INGEST_ADMIN_ADDR": ":9090"},
		{"KYCFLOW_INGEST_ADMIN_ADDR": "127.0.0.1:9090"},
		{"KYCFLOW_INGEST_ADMIN_ADDR": "[::1]:8080", "KYCFLOW_INGEST_ADDR": "127.0.0.1:8080"},
		{"KYCFLOW_INGEST_ADMIN_ADDR": "127.0.0.1:0", "KYCFLOW_INGEST_ADDR": "127.0.0.1:0"},
	} {
		cfg := LoadConfig(config.FromMap(env))
		cfg.setDefaults()
		if err := cfg.Validate(); err != nil {
			t.Errorf("%v: %v", env, err)
		}
	}
}

// TestEveryVariableIsDocumented: every variable ingest reads has a row in
// the README's configuration tables with its default.
func TestEveryVariableIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	e := config.FromMap(nil)
	LoadConfig(e)
	for _, v := range e.Vars() {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(v.Key) + "` \\|([^|]*)\\|")
		m := row.FindStringSubmatch(readme)
		if m == nil {
			t.Errorf("README.md has no row for %s", v.Key)
			continue
		}
		got := strings.TrimSpace(m[1])
		want := ""
		if v.Default != "" {
			want = "`" + v.Default + "`"
		}
		if got != want {
			t.Errorf("README.md default of %s: got %s, want %s", v.Key, got, want)
		}
	}
}

// TestChecksOff: each API's list names exactly the sender checks that are
// off for it, each by the variable that turns it on.
func TestChecksOff(t *testing.T) {
	on := map[string]string{
		"KYCFLOW_INGEST_PATH_SECRET":            "s3cr3t-segment-0123456789",
		"KYCFLOW_INGEST_USER_REFERENCE_SECRETS": "hmac-secret",
		"KYCFLOW_INGEST_USER_REFERENCE_APIS":    "platform,netverify",
	}
	for _, tc := range []struct {
		name         string
		env          map[string]string
		platform, nv []string // one variable named per check that is off
	}{
		{"every check on", nil, nil, nil},
		{"source address", map[string]string{"KYCFLOW_INGEST_CHECK_SOURCE_IP": "false"},
			[]string{"KYCFLOW_INGEST_CHECK_SOURCE_IP=false"}, []string{"KYCFLOW_INGEST_CHECK_SOURCE_IP=false"}},
		{"path secret", map[string]string{"KYCFLOW_INGEST_PATH_SECRET": ""},
			[]string{"KYCFLOW_INGEST_PATH_SECRET unset"}, []string{"KYCFLOW_INGEST_PATH_SECRET unset"}},
		{"userReference secrets", map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_SECRETS": ""},
			[]string{"KYCFLOW_INGEST_USER_REFERENCE_SECRETS unset"}, []string{"KYCFLOW_INGEST_USER_REFERENCE_SECRETS unset"}},
		{"userReference of the Platform only", map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_APIS": "platform"},
			nil, []string{"KYCFLOW_INGEST_USER_REFERENCE_APIS does not name netverify"}},
		{"userReference of Netverify only", map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_APIS": "netverify"},
			[]string{"KYCFLOW_INGEST_USER_REFERENCE_APIS does not name platform"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range on {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg := LoadConfig(config.FromMap(env))
			for api, want := range map[events.API][]string{events.APIPlatform: tc.platform, events.APINetverify: tc.nv} {
				got := cfg.ChecksOff(api)
				if len(got) != len(want) {
					t.Errorf("%s: got %q, want one entry for each of %q", api, got, want)
					continue
				}
				for i := range want {
					if !strings.Contains(got[i], want[i]) {
						t.Errorf("%s: entry %d %q does not name %q", api, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// TestZeroOrNegativeSizesAreRefused: a body size or tracked-address count
// set to 0 or below was read as its default without a word; it is a
// configuration error naming the variable.
func TestZeroOrNegativeSizesAreRefused(t *testing.T) {
	for key, want := range map[string]string{
		"KYCFLOW_INGEST_MAX_BODY_BYTES":     "want a positive size in bytes",
		"KYCFLOW_INGEST_RATE_LIMIT_SOURCES": "want an integer of at least 1",
	} {
		for _, v := range []string{"0", "-1"} {
			e := config.FromMap(map[string]string{key: v})
			LoadConfig(e)
			if err := e.Err(); err == nil || !strings.Contains(err.Error(), key+"="+v+": "+want) {
				t.Errorf("%s=%s: got %v", key, v, err)
			}
		}
	}
}

// TestUserReferenceMaxAgeZeroSkipsTheAgeCheck: 0 was accepted (Validate
// refuses only a negative age) and meant what VerifyUserReference makes
// of it, no age check: signed tokens of any age are accepted. It is no
// configuration error.
func TestUserReferenceMaxAgeZeroSkipsTheAgeCheck(t *testing.T) {
	e := config.FromMap(map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_MAX_AGE": "0"})
	cfg := LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatalf("KYCFLOW_INGEST_USER_REFERENCE_MAX_AGE=0: %v", err)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil || cfg.UserReferenceMaxAge != 0 {
		t.Errorf("max age %v, Validate: %v; want 0 (no age check), valid", cfg.UserReferenceMaxAge, err)
	}
}
