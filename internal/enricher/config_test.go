package enricher_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

func TestLoadConfig(t *testing.T) {
	e := config.FromMap(map[string]string{
		"KYCFLOW_ENRICHER_CONCURRENCY":            "32",
		"KYCFLOW_ENRICHER_MAX_ACK_PENDING":        "500",
		"KYCFLOW_ENRICHER_NOT_READY_SCHEDULE":     "10s, 20s,1m",
		"KYCFLOW_ENRICHER_NETVERIFY_CONFIRM":      "true",
		"KYCFLOW_ENRICHER_RETRY_MAX_AGE":          "2d",
		"KYCFLOW_PRODUCTS":                        "10011=ID and Identity",
		"KYCFLOW_JUMIO_CLIENT_ID":                 "c",
		"KYCFLOW_JUMIO_CLIENT_SECRET":             "s",
		"KYCFLOW_ENRICHER_RETRY_INITIAL_INTERVAL": "500ms",
	})
	c := enricher.LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	got := struct {
		Concurrency, MaxAckPending int
		Schedule                   jumio.Schedule
		Confirm                    string
		MaxAge, Initial            time.Duration
		Products, ClientID, Addr   string
	}{c.Concurrency, c.MaxAckPending, c.NotReadySchedule, c.NetverifyConfirm, c.RetryMaxAge, c.RetryInitialInterval, c.Products, c.Jumio.ClientID, c.Server.Addr}
	want := got
	want.Concurrency, want.MaxAckPending, want.Confirm = 32, 500, enricher.ConfirmOn
	want.Schedule = jumio.Schedule{10 * time.Second, 20 * time.Second, time.Minute}
	want.MaxAge, want.Initial = 48*time.Hour, 500*time.Millisecond
	want.Products, want.ClientID, want.Addr = "10011=ID and Identity", "c", enricher.DefaultAddr
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
	d := enricher.LoadConfig(config.FromMap(nil))
	if diff := cmp.Diff(jumio.NotReadySchedule, d.NotReadySchedule); diff != "" {
		t.Errorf("default schedule (-want +got):\n%s", diff)
	}
}

// TestConfigInvalid: New refuses a configuration it cannot run with,
// matching ErrInvalidConfig.
func TestConfigInvalid(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	tests := map[string]func(*enricher.Config){
		"concurrency":     func(c *enricher.Config) { c.Concurrency = -1 },
		"ack pending":     func(c *enricher.Config) { c.MaxAckPending = 2; c.Concurrency = 4 },
		"schedule":        func(c *enricher.Config) { c.NotReadySchedule = jumio.Schedule{time.Second, 0} },
		"retry intervals": func(c *enricher.Config) { c.RetryMaxInterval = time.Millisecond },
		"products":        func(c *enricher.Config) { c.Products = "{not json" },
		"state ttl":       func(c *enricher.Config) { c.StateTTL = time.Second },
		"pull expiry":     func(c *enricher.Config) { c.PullExpiry = time.Millisecond },
		"confirm without keys": func(c *enricher.Config) {
			c.NetverifyConfirm = enricher.ConfirmOn
			c.Jumio.NetverifyAPIToken = ""
			c.Jumio.NetverifyAPISecret = ""
		},
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := h.config()
			change(&cfg)
			if _, err := enricher.New(cfg, h.nc, nil, h.tel); !errors.Is(err, enricher.ErrInvalidConfig) {
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	bad := enricher.LoadConfig(config.FromMap(map[string]string{"KYCFLOW_ENRICHER_NOT_READY_SCHEDULE": "40s,soon"}))
	if _, err := enricher.New(bad, h.nc, nil, h.tel); !errors.Is(err, enricher.ErrInvalidConfig) {
		t.Errorf("a schedule step that is not a duration: New = %v, want ErrInvalidConfig", err)
	}
}

// TestREADMEListsEveryVariable keeps the README's Enricher table in step
// with the code: every enricher variable with its default, in the
// Enricher section; the NATS and Jumio variables it also reads are listed
// in their own sections.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n### Enricher\n")
	if start < 0 {
		t.Fatal("README has no Enricher section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[4:], "\n## "); end >= 0 {
		section = section[:end+4]
	}
	if end := strings.Index(section[4:], "\n### "); end >= 0 {
		section = section[:end+4]
	}
	e := config.FromMap(nil)
	enricher.LoadConfig(e)
	for _, v := range e.Vars() {
		row := "| `" + v.Key + "` | "
		if v.Default != "" {
			row += "`" + v.Default + "` |"
		}
		own := strings.HasPrefix(v.Key, "KYCFLOW_ENRICHER_") || v.Key == "KYCFLOW_PRODUCTS"
		switch {
		case own && !strings.Contains(section, row):
			t.Errorf("the README's Enricher section lacks the row %q", row)
		case !own && !strings.Contains(readme, "| `"+v.Key+"` |"):
			t.Errorf("the README lacks %s", v.Key)
		}
	}
}

// TestStateTTLCoversTheCallbacksRetention: an execution's state kept
// shorter than JUMIO_CALLBACKS keeps its callbacks is refused, naming both
// variables (docs/operations.md said the service checks it; it did not).
func TestStateTTLCoversTheCallbacksRetention(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" valid
	}{
		{nil, ""},
		{map[string]string{"KYCFLOW_ENRICHER_STATE_TTL": "60d", "KYCFLOW_STREAM_CALLBACKS_MAX_AGE": "60d"}, ""},
		{map[string]string{"KYCFLOW_ENRICHER_STATE_TTL": "1m"}, "state TTL 1m0s (KYCFLOW_ENRICHER_STATE_TTL) is shorter than the retention of JUMIO_CALLBACKS, 30d (KYCFLOW_STREAM_CALLBACKS_MAX_AGE)"},
		{map[string]string{"KYCFLOW_STREAM_CALLBACKS_MAX_AGE": "31d"}, "state TTL 30d (KYCFLOW_ENRICHER_STATE_TTL) is shorter than the retention of JUMIO_CALLBACKS, 31d"},
	} {
		e := config.FromMap(tc.env)
		cfg := enricher.LoadConfig(e)
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (!errors.Is(err, enricher.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: got %v, want %q", tc.env, err, tc.want)
		}
	}
}

// TestZeroOrNegativeCountsAreRefused: a count set to 0 or below was read
// as its default without a word (0 migration batches at once meant the
// default 4, not none); it is a configuration error naming the variable.
func TestZeroOrNegativeCountsAreRefused(t *testing.T) {
	for _, key := range []string{"KYCFLOW_ENRICHER_RETRY_MAX_ATTEMPTS", "KYCFLOW_ENRICHER_WORK_CONCURRENCY", "KYCFLOW_JUMIO_MAX_ATTEMPTS", "KYCFLOW_RECONCILE_MAX_CHECKS"} {
		for _, v := range []string{"0", "-1"} {
			e := config.FromMap(map[string]string{key: v})
			enricher.LoadConfig(e)
			if err := e.Err(); err == nil || !strings.Contains(err.Error(), key+"="+v+": want an integer of at least 1") {
				t.Errorf("%s=%s: got %v", key, v, err)
			}
		}
	}
}

// TestHealthIntervalZeroTurnsTheWatchOff: KYCFLOW_ENRICHER_HEALTH_INTERVAL=0
// turns the watch of Jumio's status endpoint off, as its help, the README
// and docs/operations.md (the runbook for a status endpoint that reports
// DOWN while the API works) say; it is no configuration error.
func TestHealthIntervalZeroTurnsTheWatchOff(t *testing.T) {
	e := config.FromMap(map[string]string{"KYCFLOW_ENRICHER_HEALTH_INTERVAL": "0"})
	c := enricher.LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatalf("KYCFLOW_ENRICHER_HEALTH_INTERVAL=0: %v", err)
	}
	if c.HealthInterval >= 0 {
		t.Errorf("HealthInterval %v, want negative (the watch off)", c.HealthInterval)
	}
}
