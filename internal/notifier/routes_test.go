package notifier_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

func secrets(m map[string]string) notifier.SecretSource {
	return notifier.SecretSource{
		Getenv: func(k string) string { return m[k] },
		ReadFile: func(name string) ([]byte, error) {
			if v, ok := m["file:"+name]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		},
	}
}

var env = secrets(map[string]string{
	"CRM_SECRETS":              notifiertest.Secret + " " + notifiertest.OldSecret,
	"file:/run/secrets/hook":   notifiertest.Secret + "\n",
	"BAD_SECRET":               "whsec_short",
	"file:/run/secrets/rotate": notifiertest.Secret + "," + notifiertest.OldSecret,
	"file:/run/secrets/empty":  "\n",
})

func TestParseRoutes(t *testing.T) {
	data := `
routes:
  - name: crm-webhook
    description: CRM onboarding
    filter: {decision: [passed, REJECTED], status: [PROCESSED], workflowKey: [10011], product: [], issuingCountry: [usa], api: [Platform]}
    policy: no_pii
    webhook:
      url: https://crm.example.com/hooks/kyc
      secretEnv: CRM_SECRETS
      timeout: 5s
    retry: {maxAttempts: 12, initialInterval: 1s, maxInterval: 5m}
    concurrency: 4
    migrated: Suppress
  - name: all-results
    policy: full
    nats: {prefix: jumio.results.all}
    migrated: mark
  - name: default-subjects
    policy: decision-only
    nats:
  - name: files
    policy: decision_only
    webhook:
      url: http://10.0.0.7:8080/hook
      allowPrivate: true
      secretFiles: [/run/secrets/rotate]
`
	routes, err := notifier.ParseRoutes("routes.yaml", []byte(data), env)
	if err != nil {
		t.Fatalf("ParseRoutes: %v", err)
	}
	crm, _ := notifier.ParseWebhookURL("https://crm.example.com/hooks/kyc", false)
	files, _ := notifier.ParseWebhookURL("http://10.0.0.7:8080/hook", true)
	def := notifier.Retry{MaxAttempts: notifier.DefaultMaxAttempts, InitialInterval: notifier.DefaultInitialInterval, MaxInterval: notifier.DefaultMaxInterval}
	want := []notifier.Route{
		{
			Name: "crm-webhook", Description: "CRM onboarding", Line: 3,
			Filter: notifier.Filter{
				Decision: []events.DecisionType{events.DecisionPassed, events.DecisionRejected}, Status: []events.Status{events.StatusProcessed},
				WorkflowKey: []string{"10011"}, IssuingCountry: []string{"USA"}, API: []events.API{events.APIPlatform},
			},
			Policy:      events.PolicyNoPII,
			Webhook:     &notifier.WebhookRoute{URL: crm, Keys: notifiertest.Keys(t, notifiertest.Secret, notifiertest.OldSecret), Timeout: 5 * time.Second},
			Retry:       notifier.Retry{MaxAttempts: 12, InitialInterval: time.Second, MaxInterval: 5 * time.Minute},
			Concurrency: 4,
			Migrated:    notifier.MigratedSuppress,
		},
		{Name: "all-results", Line: 14, Policy: events.PolicyFull, NATS: &notifier.NATSRoute{Prefix: "jumio.results.all"}, Retry: def, Migrated: notifier.MigratedMark},
		{Name: "default-subjects", Line: 18, Policy: events.PolicyDecisionOnly, NATS: &notifier.NATSRoute{Prefix: events.SubjectResults}, Retry: def, Migrated: notifier.MigratedDeliver},
		{
			Name: "files", Line: 21, Policy: events.PolicyDecisionOnly, Retry: def, Migrated: notifier.MigratedDeliver,
			Webhook: &notifier.WebhookRoute{URL: files, Keys: notifiertest.Keys(t, notifiertest.Secret, notifiertest.OldSecret), Timeout: notifier.DefaultWebhookTimeout, AllowPrivate: true},
		},
	}
	if diff := cmp.Diff(want, routes, cmp.Comparer(func(a, b notifier.SigningKeys) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

// TestParseRoutesErrors checks that each problem is reported with its
// line, its route and its cause, and that a file with any problem gives no
// routes at all.
func TestParseRoutesErrors(t *testing.T) {
	type problem struct {
		Line  int
		Route string
		Key   string
		Err   error
	}
	for _, tc := range []struct {
		name string
		data string
		want []problem
	}{
		{"empty", ``, []problem{{0, "", "routes", notifier.ErrMissing}}},
		{"no routes", "routes: []\n", []problem{{1, "", "routes", notifier.ErrMissing}}},
		{"not YAML", "routes: [\n", []problem{{1, "", "", notifier.ErrInvalidValue}}},
		// The YAML parser blames the line of "routes:" for these; the
		// problem is named on the line that is wrongly indented.
		{"route key indented too little", "routes:\n  - name: a\n    policy: full\n    nats: {}\n  - name: b\n  policy: full\n    nats: {}\n",
			[]problem{{6, "", "", notifier.ErrInvalidValue}}},
		{"route key indented too much", "routes:\n  - name: a\n    policy: full\n     nats: {}\n", []problem{{4, "", "", notifier.ErrInvalidValue}}},
		{"tab", "routes:\n  - name: a\n    policy: full\n\tnats: {}\n", []problem{{4, "", "", notifier.ErrInvalidValue}}},
		{"unknown top-level key", "route:\n  - name: a\n", []problem{{1, "", "route", notifier.ErrUnknownKey}, {1, "", "routes", notifier.ErrMissing}}},
		{"unknown route key", `
routes:
  - name: a
    policy: full
    nats: {}
    filters: {decision: [PASSED]}
`, []problem{{6, "a", "filters", notifier.ErrUnknownKey}}},
		{"unknown nested keys", `
routes:
  - name: a
    policy: full
    filter: {decision: [PASSED], country: [USA]}
    webhook: {url: "https://x.example/h", secretEnv: CRM_SECRETS, timout: 1s}
    retry: {max: 3}
`, []problem{{5, "a", "filter.country", notifier.ErrUnknownKey}, {6, "a", "webhook.timout", notifier.ErrUnknownKey}, {7, "a", "retry.max", notifier.ErrUnknownKey}}},
		{"duplicate names", `
routes:
  - name: a
    policy: full
    nats: {}
  - name: b
    policy: full
    nats: {}
  - name: a
    policy: no_pii
    nats: {}
`, []problem{{9, "a", "name", notifier.ErrDuplicateRoute}}},
		// The first route of a name has a problem of its own: the
		// second is reported all the same.
		{"duplicate name of a route with a problem", `
routes:
  - name: a
    policy: full
    nats: {prefix: jumio.other}
  - name: a
    policy: full
    nats: {}
`, []problem{{5, "a", "nats.prefix", events.ErrResultPrefix}, {6, "a", "name", notifier.ErrDuplicateRoute}}},
		// Another route's subscribers filter by the decision token:
		// jumio.results.passed.> would receive this route's rejected
		// results (jumio.results.passed.rejected....).
		{"prefix with a decision token", `
routes:
  - name: all
    policy: full
    nats: {}
  - name: vip
    policy: no_pii
    nats: {prefix: jumio.results.passed}
`, []problem{{8, "vip", "nats.prefix", events.ErrResultPrefix}}},
		{"bad names", `
routes:
  - name: Has_Upper
    policy: full
    nats: {}
  - policy: full
    nats: {}
`, []problem{{3, "Has_Upper", "name", notifier.ErrInvalidValue}, {6, "", "name", notifier.ErrMissing}}},
		{"bad migrated", `
routes:
  - name: a
    policy: full
    nats: {}
    migrated: forward
`, []problem{{6, "a", "migrated", notifier.ErrInvalidValue}}},
		{"bad policy and none", `
routes:
  - name: a
    policy: everything
    nats: {}
  - name: b
    nats: {}
`, []problem{{4, "a", "policy", events.ErrUnknownPolicy}, {6, "b", "policy", notifier.ErrMissing}}},
		{"bad filter values", `
routes:
  - name: a
    policy: full
    nats: {}
    filter:
      decision: [PASSSED]
      status: [DONE]
      issuingCountry: [US]
      api: [v2]
      product: [""]
`, []problem{
			{7, "a", "filter.decision", notifier.ErrInvalidValue}, {8, "a", "filter.status", notifier.ErrInvalidValue},
			{9, "a", "filter.issuingCountry", notifier.ErrInvalidValue}, {10, "a", "filter.api", notifier.ErrInvalidValue},
			{11, "a", "filter.product", notifier.ErrMissing},
		}},
		{"sinks", `
routes:
  - name: none
    policy: full
  - name: both
    policy: full
    nats: {}
    webhook: {url: "https://x.example/h", secretEnv: CRM_SECRETS}
`, []problem{{3, "none", "", notifier.ErrSink}, {7, "both", "nats", notifier.ErrSink}}},
		{"bad URLs", `
routes:
  - name: ftp
    policy: full
    webhook: {url: "ftp://x.example/h", secretEnv: CRM_SECRETS}
  - name: plain
    policy: full
    webhook: {url: "http://x.example/h", secretEnv: CRM_SECRETS}
  - name: creds
    policy: full
    webhook: {url: "https://user:pw@x.example/h", secretEnv: CRM_SECRETS}
  - name: loopback
    policy: full
    webhook: {url: "https://127.0.0.1/h", secretEnv: CRM_SECRETS}
  - name: metadata
    policy: full
    webhook: {url: "https://[::ffff:169.254.169.254]/h", secretEnv: CRM_SECRETS}
  - name: nohost
    policy: full
    webhook: {url: "https:///h", secretEnv: CRM_SECRETS}
  - name: nourl
    policy: full
    webhook: {secretEnv: CRM_SECRETS}
`, []problem{
			{5, "ftp", "webhook.url", notifier.ErrBadURL}, {8, "plain", "webhook.url", notifier.ErrBadURL},
			{11, "creds", "webhook.url", notifier.ErrBadURL}, {14, "loopback", "webhook.url", notifier.ErrBadURL},
			{17, "metadata", "webhook.url", notifier.ErrBadURL}, {20, "nohost", "webhook.url", notifier.ErrBadURL},
			{23, "nourl", "webhook.url", notifier.ErrMissing},
		}},
		{"secrets", `
routes:
  - name: unset
    policy: full
    webhook: {url: "https://x.example/h", secretEnv: NOT_SET}
  - name: malformed
    policy: full
    webhook: {url: "https://x.example/h", secretEnv: BAD_SECRET}
  - name: nofile
    policy: full
    webhook: {url: "https://x.example/h", secretFiles: [/run/secrets/missing]}
  - name: none
    policy: full
    webhook: {url: "https://x.example/h"}
  - name: both
    policy: full
    webhook: {url: "https://x.example/h", secretEnv: CRM_SECRETS, secretFiles: [/run/secrets/hook]}
  - name: nofiles
    policy: full
    webhook: {url: "https://x.example/h", secretFiles: []}
  - name: emptyfile
    policy: full
    webhook: {url: "https://x.example/h", secretFiles: [/run/secrets/hook, /run/secrets/empty]}
`, []problem{
			{5, "unset", "webhook.secretEnv", notifier.ErrSecret}, {8, "malformed", "webhook.secretEnv", events.ErrWebhookSecret},
			{11, "nofile", "webhook.secretFiles", notifier.ErrSecret}, {14, "none", "webhook", notifier.ErrSecret},
			{17, "both", "webhook.secretFiles", notifier.ErrSecret},
			// An empty list, and an empty file beside a good one (a
			// mount that failed during a rotation), are refused too.
			{20, "nofiles", "webhook", notifier.ErrSecret}, {23, "emptyfile", "webhook.secretFiles", notifier.ErrSecret},
		}},
		{"bad numbers and durations", `
routes:
  - name: a
    policy: full
    nats: {prefix: other.results}
    retry: {maxAttempts: 0, initialInterval: soon, maxInterval: 1ms}
    concurrency: many
  - name: b
    policy: full
    webhook: {url: "https://x.example/h", secretEnv: CRM_SECRETS, timeout: 1h, allowPrivate: "yes"}
`, []problem{
			{5, "a", "nats.prefix", events.ErrResultPrefix}, {6, "a", "retry.maxAttempts", notifier.ErrInvalidValue},
			{6, "a", "retry.initialInterval", notifier.ErrInvalidValue}, {6, "a", "retry.maxInterval", notifier.ErrInvalidValue},
			{7, "a", "concurrency", notifier.ErrInvalidValue},
			{10, "b", "webhook.timeout", notifier.ErrInvalidValue}, {10, "b", "webhook.allowPrivate", notifier.ErrInvalidValue},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes, err := notifier.ParseRoutes("routes.yaml", []byte(tc.data), env)
			if routes != nil {
				t.Errorf("ParseRoutes returned %d routes with errors", len(routes))
			}
			var re *notifier.RoutesError
			if !errors.As(err, &re) || !errors.Is(err, notifier.ErrInvalidRoutes) {
				t.Fatalf("ParseRoutes: got %v, want a *RoutesError", err)
			}
			var got []problem
			for _, e := range re.Errs {
				got = append(got, problem{e.Line, e.Route, e.Key, e.Err})
				if e.File != "routes.yaml" || !errors.Is(e, notifier.ErrInvalidRoutes) {
					t.Errorf("%v: file %q or class wrong", e, e.File)
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) || errors.Is(b, a) })); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nerror text:\n%v", diff, err)
			}
		})
	}
}

func TestRoutesErrorsNeverShowSecrets(t *testing.T) {
	leaky := secrets(map[string]string{"S": "whsec_dGhpcy1pcy1hLXNlY3JldA"})
	_, err := notifier.ParseRoutes("routes.yaml", []byte("routes:\n  - name: a\n    policy: full\n    webhook: {url: \"https://x.example/h\", secretEnv: S}\n"), leaky)
	if err == nil || strings.Contains(err.Error(), "dGhpcy1pcy1hLXNlY3JldA") {
		t.Fatalf("ParseRoutes: got %v, want an error without the secret", err)
	}
}

func TestExampleRoutesFileIsValid(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "routes.yaml")
	getenv := func(k string) string {
		if strings.HasPrefix(k, "KYCFLOW_WEBHOOK_") {
			return notifiertest.Secret
		}
		return ""
	}
	if err := notifier.ValidateRoutesFile(path, getenv); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := notifier.ValidateRoutesFile(path, func(string) string { return "" }); !errors.Is(err, notifier.ErrSecret) {
		t.Errorf("%s without secrets: got %v, want ErrSecret", path, err)
	}
}

func TestFilterMatch(t *testing.T) {
	r := notifiertest.Result(1) // PASSED, PROCESSED, 10011, "ID + Identity", USA, platform
	noDoc := notifiertest.Result(2)
	noDoc.Document = nil
	for _, tc := range []struct {
		name   string
		filter notifier.Filter
		result events.Result
		want   bool
	}{
		{"empty selects all", notifier.Filter{}, r, true},
		{"decision in", notifier.Filter{Decision: []events.DecisionType{events.DecisionRejected, events.DecisionPassed}}, r, true},
		{"decision out", notifier.Filter{Decision: []events.DecisionType{events.DecisionRejected}}, r, false},
		{"status and key", notifier.Filter{Status: []events.Status{events.StatusProcessed}, WorkflowKey: []string{"10011"}}, r, true},
		{"one list misses", notifier.Filter{Status: []events.Status{events.StatusProcessed}, WorkflowKey: []string{"10012"}}, r, false},
		{"product", notifier.Filter{Product: []string{"ID + Identity"}}, r, true},
		{"country", notifier.Filter{IssuingCountry: []string{"USA", "CAN"}}, r, true},
		{"country without document", notifier.Filter{IssuingCountry: []string{"USA"}}, noDoc, false},
		{"api", notifier.Filter{API: []events.API{events.APINetverify}}, r, false},
		{"all lists match", notifier.Filter{
			Decision: []events.DecisionType{events.DecisionPassed}, Status: []events.Status{events.StatusProcessed}, WorkflowKey: []string{"10011"},
			Product: []string{"ID + Identity"}, IssuingCountry: []string{"USA"}, API: []events.API{events.APIPlatform},
		}, r, true},
	} {
		if got := tc.filter.Match(tc.result); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
