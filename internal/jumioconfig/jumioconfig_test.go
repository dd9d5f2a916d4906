package jumioconfig

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func TestLoadConfig(t *testing.T) {
	e := config.FromMap(map[string]string{
		"KYCFLOW_JUMIO_REGION":              "EU",
		"KYCFLOW_JUMIO_CLIENT_ID":           "client",
		"KYCFLOW_JUMIO_CLIENT_SECRET":       "secret",
		"KYCFLOW_JUMIO_RETRIEVAL_URL":       "http://127.0.0.1:8090",
		"KYCFLOW_JUMIO_USER_AGENT":          "ExampleCorp Onboarding/2.1",
		"KYCFLOW_JUMIO_RATE_LIMIT":          "7.5",
		"KYCFLOW_JUMIO_TOKEN_REFRESH_AHEAD": "2m",
		"KYCFLOW_JUMIO_MAX_IMAGE_SIZE":      "4MiB",
		"KYCFLOW_JUMIO_LANE_WEIGHTS":        "migrate=3",
	})
	got := LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	want := jumio.Config{
		Region: wire.RegionEMEA, Hosts: wire.Hosts{Retrieval: "http://127.0.0.1:8090"},
		ClientID: "client", ClientSecret: "secret", UserAgent: "ExampleCorp Onboarding/2.1",
		Timeout: jumio.DefaultTimeout, MaxAttempts: jumio.DefaultMaxAttempts,
		RateLimit: 7.5, RateBurst: jumio.DefaultRateBurst, RateLimitCooldown: jumio.DefaultRateLimitCooldown,
		BulkBurst:      jumio.DefaultBulkBurst,
		LaneWeights:    map[jumio.Lane]int{jumio.LaneReconcile: 4, jumio.LaneReplay: 2, jumio.LaneMigrate: 3},
		TokenRateLimit: jumio.DefaultTokenRateLimit, AccountRateLimit: jumio.DefaultAccountRateLimit, APIRateLimit: jumio.DefaultAPIRateLimit,
		TokenRefreshAhead: 2 * time.Minute, MaxImageBytes: 4 << 20, MaxResponseBytes: jumio.DefaultMaxResponseBytes,
		MaxRetryAfter: jumio.DefaultMaxRetryAfter,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
	c, err := jumio.NewClient(got)
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Config().Hosts; h.Auth != "https://auth.emea-1.jumio.ai" || h.Retrieval != "http://127.0.0.1:8090" {
		t.Errorf("hosts %+v: want emea-1 with the retrieval override", h)
	}
}

func TestLoadConfigBadValues(t *testing.T) {
	e := config.FromMap(map[string]string{"KYCFLOW_JUMIO_REGION": "mars-1", "KYCFLOW_JUMIO_CLIENT_ID": "c",
		"KYCFLOW_JUMIO_CLIENT_SECRET": "s", "KYCFLOW_JUMIO_RATE_LIMIT": "fast", "KYCFLOW_JUMIO_LANE_WEIGHTS": "live=3"})
	cfg := LoadConfig(e)
	if e.Err() == nil || !strings.Contains(e.Err().Error(), "KYCFLOW_JUMIO_RATE_LIMIT") {
		t.Error("a rate limit of \"fast\" was accepted")
	}
	if !errors.Is(e.Err(), jumio.ErrInvalidLaneWeights) {
		t.Errorf("a weight for the live lane: %v, want ErrInvalidLaneWeights", e.Err())
	}
	if _, err := jumio.NewClient(cfg); !errors.Is(err, jumio.ErrInvalidConfig) {
		t.Errorf("region mars-1: NewClient = %v, want ErrInvalidConfig", err)
	}
}

// TestREADMEListsEveryVariable keeps the README's Jumio table in step with
// the code: every variable with its default.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	e := config.FromMap(nil)
	LoadConfig(e)
	for _, v := range e.Vars() {
		row := "| `" + v.Key + "` | "
		if v.Default != "" {
			row += "`" + v.Default + "` |"
		}
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the row %q", row)
		}
	}
}

func TestHasCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"none", nil, false},
		{"OAuth2", map[string]string{"KYCFLOW_JUMIO_CLIENT_ID": "c", "KYCFLOW_JUMIO_CLIENT_SECRET": "s"}, true},
		{"client id alone", map[string]string{"KYCFLOW_JUMIO_CLIENT_ID": "c"}, false},
		{"Platform Basic", map[string]string{"KYCFLOW_JUMIO_PLATFORM_API_TOKEN": "t", "KYCFLOW_JUMIO_PLATFORM_API_SECRET": "s"}, true},
		{"Netverify", map[string]string{"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN": "t", "KYCFLOW_JUMIO_NETVERIFY_API_SECRET": "s"}, true},
		{"URLs only", map[string]string{"KYCFLOW_JUMIO_RETRIEVAL_URL": "http://127.0.0.1:1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HasCredentials(LoadConfig(config.FromMap(tc.env))); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHalfACredentialPairIsAProblem: a credential without its other half
// is reported, naming both variables, never taking the value; no
// credentials at all is a problem only where they are required.
func TestHalfACredentialPairIsAProblem(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		require bool
		want    []string // variables with a problem
	}{
		{"none", nil, false, nil},
		{"none, required", nil, true, []string{"KYCFLOW_JUMIO_CLIENT_ID"}},
		{"client id only", map[string]string{"KYCFLOW_JUMIO_CLIENT_ID": "c"}, false, []string{"KYCFLOW_JUMIO_CLIENT_SECRET"}},
		{"client secret only", map[string]string{"KYCFLOW_JUMIO_CLIENT_SECRET": "s3cr3t"}, true, []string{"KYCFLOW_JUMIO_CLIENT_ID"}},
		{"netverify token only", map[string]string{"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN": "t"}, false, []string{"KYCFLOW_JUMIO_NETVERIFY_API_SECRET"}},
		{"platform basic secret only", map[string]string{"KYCFLOW_JUMIO_PLATFORM_API_SECRET": "s3cr3t"}, false, []string{"KYCFLOW_JUMIO_PLATFORM_API_TOKEN"}},
		{"one full pair", map[string]string{"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN": "t", "KYCFLOW_JUMIO_NETVERIFY_API_SECRET": "s3cr3t"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := config.FromMap(tt.env)
			c := LoadConfig(e)
			if tt.require {
				RequireCredentials(e, c)
			}
			var got []string
			var ce *config.Error
			if err := e.Err(); errors.As(err, &ce) {
				for _, p := range ce.Problems {
					got = append(got, p.Key)
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "ClientID") {
					t.Errorf("error shows a secret or a Go field name: %v", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadConfigRequiresHTTPS: a Jumio URL is https, or plain http to a
// loopback host (the simulator); anything else is an error that names
// the variable, unless KYCFLOW_JUMIO_ALLOW_HTTP says a simulator on a
// container network is meant.
func TestLoadConfigRequiresHTTPS(t *testing.T) {
	vars := []string{"KYCFLOW_JUMIO_AUTH_URL", "KYCFLOW_JUMIO_ACCOUNT_URL", "KYCFLOW_JUMIO_API_URL",
		"KYCFLOW_JUMIO_RETRIEVAL_URL", "KYCFLOW_JUMIO_NETVERIFY_URL"}
	for _, v := range vars {
		for _, tc := range []struct {
			url, allow string
			ok         bool
		}{
			{"https://jumio.example.com", "", true},
			{"http://127.0.0.1:8090", "", true},
			{"http://localhost:8090", "", true},
			{"http://jumio.example.com", "", false},
			{"http://jumiosim:8090", "", false},
			{"http://jumiosim:8090", "true", true},
		} {
			e := config.FromMap(map[string]string{v: tc.url, "KYCFLOW_JUMIO_ALLOW_HTTP": tc.allow})
			cfg := LoadConfig(e)
			err := e.Err()
			if tc.ok {
				if err != nil {
					t.Errorf("%s=%s (allow %q): %v", v, tc.url, tc.allow, err)
				}
				continue
			}
			if !errors.Is(err, jumio.ErrInsecureURL) || !strings.Contains(err.Error(), v) {
				t.Errorf("%s=%s: error %v, want jumio.ErrInsecureURL naming %s", v, tc.url, err, v)
			}
			// The client refuses it too, whoever builds the Config.
			cfg.ClientID, cfg.ClientSecret = "c", "s"
			if _, err := jumio.NewClient(cfg); !errors.Is(err, jumio.ErrInsecureURL) {
				t.Errorf("%s=%s: NewClient = %v, want jumio.ErrInsecureURL", v, tc.url, err)
			}
		}
	}
}
