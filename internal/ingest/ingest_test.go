package ingest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

const testdata = "../../pkg/jumio/testdata"

// fixture is a callback from pkg/jumio/testdata with what ingest must
// store for it.
type fixture struct {
	name        string
	api         events.API
	contentType string
	body        []byte
	region      wire.Region
	want        events.CallbackEvent // ids, status, subject parts
}

func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	var out []fixture
	platform, _ := filepath.Glob(filepath.Join(testdata, "platform", "callback-*.json"))
	for _, p := range platform {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := wire.ParsePlatformCallback(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		region, ok := cb.Region()
		if !ok {
			region = wire.RegionAMER
		}
		// The stored JSON is the body as received, compacted.
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		out = append(out, fixture{name: filepath.Base(p), api: events.APIPlatform, contentType: "application/json", body: b, region: region,
			want: cb.Event(region, time.Time{}, compact.Bytes())})
	}
	netverify, _ := filepath.Glob(filepath.Join(testdata, "netverify", "callback-*.form"))
	for _, p := range netverify {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, raw, err := wire.ParseNetverifyRequest(b, "")
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, fixture{name: filepath.Base(p), api: events.APINetverify, contentType: "application/x-www-form-urlencoded", body: b, region: wire.RegionAMER,
			want: m.Event(wire.RegionAMER, time.Time{}, raw)})
	}
	if len(platform) < 3 || len(netverify) < 4 {
		t.Fatalf("found %d platform and %d netverify fixtures", len(platform), len(netverify))
	}
	return out
}

var traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`)

// TestEveryFixtureStoredOnce: every callback fixture is answered 200 and
// stored once, under its subject, with the CloudEvents headers, the event
// id as Nats-Msg-Id and a traceparent; sent again (for Netverify also as a
// query string) it is answered 200 and nothing new is stored.
func TestEveryFixtureStoredOnce(t *testing.T) {
	broker := brokertest.Start(t)
	fixtures := loadFixtures(t)
	byRegion := map[wire.Region]*harness{}
	for _, fx := range fixtures {
		if byRegion[fx.region] == nil {
			byRegion[fx.region] = startIngest(t, broker, func(c *ingest.Config) { c.Region = string(fx.region) })
		}
	}
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			h := byRegion[fx.region]
			before := len(h.stored(t))
			resp := h.post(t, "/callbacks/"+string(fx.api), fx.contentType, fx.body, nil)
			if resp.status != http.StatusOK {
				t.Fatalf("status: got %d (%s), want 200", resp.status, resp.problem.Type)
			}
			if got := resp.header.Get(events.HeaderEventID); got != fx.want.EventID {
				t.Errorf("response %s: got %q, want %q", events.HeaderEventID, got, fx.want.EventID)
			}
			msgs := h.stored(t)
			if len(msgs) != before+1 {
				t.Fatalf("stored: got %d new messages, want 1", len(msgs)-before)
			}
			m := msgs[len(msgs)-1]
			if m.Subject != fx.want.Subject() {
				t.Errorf("subject: got %q, want %q", m.Subject, fx.want.Subject())
			}
			for name, want := range map[string]string{
				events.HeaderCESpecVersion: events.CESpecVersion,
				events.HeaderCEID:          fx.want.EventID,
				events.HeaderCEType:        events.TypeCallback,
				events.HeaderCESource:      events.SourceIngest,
				events.HeaderCESubject:     fx.want.WorkflowExecutionID,
				events.HeaderContentType:   events.ContentTypeJSON,
				events.HeaderMsgID:         fx.want.EventID,
				events.HeaderEventID:       fx.want.EventID,
			} {
				if got := m.Header.Get(name); got != want {
					t.Errorf("header %s: got %q, want %q", name, got, want)
				}
			}
			if _, err := time.Parse(time.RFC3339Nano, m.Header.Get(events.HeaderCETime)); err != nil {
				t.Errorf("header %s: %v", events.HeaderCETime, err)
			}
			if tp := m.Header.Get(events.HeaderTraceparent); !traceparentRE.MatchString(tp) {
				t.Errorf("header %s: got %q", events.HeaderTraceparent, tp)
			}
			var ev events.CallbackEvent
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatalf("body: %v", err)
			}
			if ev.ReceivedAt.IsZero() {
				t.Errorf("receivedAt is zero")
			}
			ev.ReceivedAt = time.Time{}
			if diff := cmp.Diff(fx.want, ev); diff != "" {
				t.Errorf("stored event (-want +got):\n%s", diff)
			}

			resends := []func() response{func() response { return h.post(t, "/callbacks/"+string(fx.api), fx.contentType, fx.body, nil) }}
			if fx.api == events.APINetverify {
				resends = append(resends, func() response {
					return h.post(t, "/callbacks/netverify?"+strings.TrimSpace(string(fx.body)), "", nil, nil)
				})
			}
			for i, resend := range resends {
				if resp := resend(); resp.status != http.StatusOK {
					t.Fatalf("resend %d: got %d (%s), want 200", i, resp.status, resp.problem.Type)
				}
			}
			if got := len(h.stored(t)); got != before+1 {
				t.Errorf("after resending: got %d new messages, want 1", got-before)
			}
			if got := h.metric(t, "kycflow_ingest_callbacks_total", map[string]string{"api": string(fx.api), "outcome": ingest.OutcomeDuplicate}); got < float64(len(resends)) {
				t.Errorf("duplicates counted: got %v, want >= %d", got, len(resends))
			}
		})
	}
	// No personal data, body or image link in the logs.
	for _, h := range byRegion {
		logs := h.logs.String()
		for _, pii := range []string{"JANE", "DOE", "P1234567", "1990-01-01", "WIEN", "idscan", "netverify.com", "usr_", "idFirstName"} {
			if strings.Contains(logs, pii) {
				t.Errorf("logs contain %q", pii)
			}
		}
		if !strings.Contains(logs, `"event_id"`) {
			t.Errorf("logs carry no event_id")
		}
	}
}

func fixtureBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// platformWithUserRef is the PROCESSED fixture with its userReference
// replaced.
func platformWithUserRef(t *testing.T, ref string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixtureBody(t, "platform/callback-processed.json"), &m); err != nil {
		t.Fatal(err)
	}
	if ref == "" {
		delete(m, "userReference")
	} else {
		m["userReference"] = ref
	}
	b, _ := json.Marshal(m)
	return b
}

func signed(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	tok, err := wire.SignUserReference([]byte(secret), "usr_7f3a9c", at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const pathSecret = "Zk3q9sLx-4mB7vQ2_pR8"

// TestRejections: every rejection answers its status and problem type,
// is counted by reason, and stores nothing.
func TestRejections(t *testing.T) {
	processed := fixtureBody(t, "platform/callback-processed.json")
	approved := fixtureBody(t, "netverify/callback-approved-verified.form")
	jumioUS := "52.8.136.236"
	for _, tc := range []struct {
		name        string
		mutate      func(*ingest.Config)
		method      string
		path        string
		contentType string
		body        []byte
		header      http.Header
		status      int
		reason      string // problem type suffix
		counted     string // metric reason, when it differs
	}{
		{name: "source not allowed", mutate: func(c *ingest.Config) { c.AllowedSources = []string{"203.0.113.0/24"} },
			path: "/callbacks/platform", contentType: "application/json", body: processed, status: 403, reason: ingest.ReasonSourceNotAllowed},
		{name: "default Jumio sources exclude loopback", mutate: func(c *ingest.Config) { c.AllowedSources = nil },
			path: "/callbacks/platform", contentType: "application/json", body: processed, status: 403, reason: ingest.ReasonSourceNotAllowed},
		{name: "spoofed X-Forwarded-For from an untrusted peer", mutate: func(c *ingest.Config) { c.AllowedSources = nil },
			path: "/callbacks/platform", contentType: "application/json", body: processed,
			header: http.Header{"X-Forwarded-For": {jumioUS}}, status: 403, reason: ingest.ReasonSourceNotAllowed},
		{name: "X-Forwarded-For through a trusted proxy, client not allowed",
			mutate: func(c *ingest.Config) { c.AllowedSources = nil; c.TrustedProxies = []string{"127.0.0.0/8"} },
			path:   "/callbacks/platform", contentType: "application/json", body: processed,
			header: http.Header{"X-Forwarded-For": {jumioUS + ", 198.51.100.7"}}, status: 403, reason: ingest.ReasonSourceNotAllowed},
		{name: "X-Forwarded-For garbage through a trusted proxy",
			mutate: func(c *ingest.Config) { c.AllowedSources = nil; c.TrustedProxies = []string{"127.0.0.0/8"} },
			path:   "/callbacks/platform", contentType: "application/json", body: processed,
			header: http.Header{"X-Forwarded-For": {jumioUS + ", not-an-ip"}}, status: 403, reason: ingest.ReasonSourceNotAllowed},
		{name: "wrong secret segment", mutate: func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			path: "/callbacks/platform/Zk3q9sLx-4mB7vQ2_pR9", contentType: "application/json", body: processed,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonWrongPathSecret},
		{name: "bare path when a secret is set", mutate: func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded", body: approved,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonWrongPathSecret},
		{name: "secret segment when none is set",
			path: "/callbacks/platform/" + pathSecret, contentType: "application/json", body: processed,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonWrongPathSecret},
		// A 405 here would tell a sender that is not allowed that its
		// guess at the secret was right: a wrong one gets this 403 too.
		{name: "wrong method on the right secret path from a source not allowed", mutate: func(c *ingest.Config) {
			c.PathSecret = secret(pathSecret)
			c.AllowedSources = []string{"203.0.113.0/24"}
		}, method: http.MethodGet, path: "/callbacks/platform/" + pathSecret, status: 403, reason: ingest.ReasonSourceNotAllowed},
		{name: "wrong method on a secret path", mutate: func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			method: http.MethodGet, path: "/callbacks/platform/wrong-secret-segment", status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonWrongPathSecret},
		{name: "user reference signed with another secret", mutate: func(c *ingest.Config) { c.UserReferenceSecrets = secret("current,previous") },
			path: "/callbacks/platform", contentType: "application/json", body: platformWithUserRef(t, signed(t, "stranger", time.Now())),
			status: 403, reason: ingest.ReasonUserReferenceInvalid},
		{name: "user reference expired", mutate: func(c *ingest.Config) { c.UserReferenceSecrets = secret("current") },
			path: "/callbacks/platform", contentType: "application/json", body: platformWithUserRef(t, signed(t, "current", time.Now().Add(-62*24*time.Hour))),
			status: 403, reason: ingest.ReasonUserReferenceExpired},
		{name: "user reference from the future", mutate: func(c *ingest.Config) { c.UserReferenceSecrets = secret("current") },
			path: "/callbacks/platform", contentType: "application/json", body: platformWithUserRef(t, signed(t, "current", time.Now().Add(time.Hour))),
			status: 403, reason: ingest.ReasonUserReferenceExpired},
		{name: "user reference unsigned", mutate: func(c *ingest.Config) { c.UserReferenceSecrets = secret("current") },
			path: "/callbacks/platform", contentType: "application/json", body: platformWithUserRef(t, "usr_7f3a9c"),
			status: 403, reason: ingest.ReasonUserReferenceMalformed},
		{name: "user reference missing", mutate: func(c *ingest.Config) { c.UserReferenceSecrets = secret("current") },
			path: "/callbacks/platform", contentType: "application/json", body: platformWithUserRef(t, ""),
			status: 403, reason: ingest.ReasonUserReferenceMissing},
		{name: "user reference checked on Netverify", mutate: func(c *ingest.Config) {
			c.UserReferenceSecrets = secret("current")
			c.UserReferenceAPIs = []string{"platform", "netverify"}
		},
			path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded", body: approved,
			status: 403, reason: ingest.ReasonUserReferenceMalformed},
		{name: "oversize body", mutate: func(c *ingest.Config) { c.MaxBodyBytes = 512 },
			path: "/callbacks/platform", contentType: "application/json", body: processed, status: 413, reason: ingest.ReasonBodyTooLarge},
		{name: "oversize form", mutate: func(c *ingest.Config) { c.MaxBodyBytes = 512 },
			path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded", body: approved, status: 413, reason: ingest.ReasonBodyTooLarge},
		{name: "malformed JSON", path: "/callbacks/platform", contentType: "application/json", body: processed[:len(processed)/2],
			status: 400, reason: ingest.ReasonMalformedBody},
		{name: "malformed form", path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded", body: []byte("callBackType=NETVERIFYID&x=%zz"),
			status: 400, reason: ingest.ReasonMalformedBody},
		{name: "malformed query string", path: "/callbacks/netverify?x=%zz", status: 400, reason: ingest.ReasonMalformedBody},
		{name: "userReference not UTF-8", path: "/callbacks/platform", contentType: "application/json",
			body:   bytes.Replace(processed, []byte(`"usr_7f3a9c"`), []byte("\"usr_\xff\xfe\""), 1),
			status: 422, reason: ingest.ReasonInvalidUTF8},
		{name: "userReference a lone surrogate", path: "/callbacks/platform", contentType: "application/json",
			body:   bytes.Replace(processed, []byte(`"usr_7f3a9c"`), []byte(`"usr_\ud800"`), 1),
			status: 422, reason: ingest.ReasonInvalidUTF8},
		{name: "Platform query string not UTF-8", path: "/callbacks/platform?x=%FF", contentType: "application/json", body: processed,
			status: 422, reason: ingest.ReasonInvalidUTF8},
		{name: "name percent-encoded not UTF-8", path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded",
			body:   bytes.Replace(approved, []byte("idFirstName=JANE"), []byte("idFirstName=%FF%FE"), 1),
			status: 422, reason: ingest.ReasonInvalidUTF8},
		{name: "name raw not UTF-8", path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded",
			body:   bytes.Replace(approved, []byte("idFirstName=JANE"), []byte("idFirstName=J\xc3\x28NE"), 1),
			status: 422, reason: ingest.ReasonInvalidUTF8},
		{name: "Netverify query string not UTF-8", path: "/callbacks/netverify?idLastName=%C3", contentType: "application/x-www-form-urlencoded",
			body: approved, status: 422, reason: ingest.ReasonInvalidUTF8},
		{name: "Platform as form", path: "/callbacks/platform", contentType: "application/x-www-form-urlencoded", body: processed,
			status: 415, reason: ingest.ReasonUnsupportedMediaType},
		{name: "Platform without content type", path: "/callbacks/platform", body: processed,
			status: 415, reason: ingest.ReasonUnsupportedMediaType},
		{name: "Netverify as JSON", path: "/callbacks/netverify", contentType: "application/json", body: approved,
			status: 415, reason: ingest.ReasonUnsupportedMediaType},
		{name: "missing execution id", path: "/callbacks/platform", contentType: "application/json",
			body:   []byte(`{"account":{"id":"4a1b2c3d-5e6f-4711-8899-aabbccddeeff"},"workflowExecution":{"status":"PROCESSED"}}`),
			status: 422, reason: ingest.ReasonInvalidCallback},
		{name: "execution id not a UUID", path: "/callbacks/platform", contentType: "application/json",
			body:   []byte(`{"account":{"id":"4a1b2c3d-5e6f-4711-8899-aabbccddeeff"},"workflowExecution":{"id":"x.>","status":"PROCESSED"}}`),
			status: 422, reason: ingest.ReasonInvalidCallback},
		{name: "missing scan reference", path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded",
			body: []byte("callBackType=NETVERIFYID&verificationStatus=APPROVED_VERIFIED"), status: 422, reason: ingest.ReasonInvalidCallback},
		{name: "empty Netverify request", path: "/callbacks/netverify", status: 422, reason: ingest.ReasonInvalidCallback},
		{name: "unknown path", path: "/callbacks/netverify2", contentType: "application/json", body: processed,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonUnknownPath},
		{name: "trailing slash", path: "/callbacks/platform/", contentType: "application/json", body: processed,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonUnknownPath},
		{name: "secret segment with a trailing slash", mutate: func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			path: "/callbacks/platform/" + pathSecret + "/", contentType: "application/json", body: processed,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonUnknownPath},
		{name: "secret segment followed by another", mutate: func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			path: "/callbacks/netverify/" + pathSecret + "/x", contentType: "application/x-www-form-urlencoded", body: approved,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonUnknownPath},
		{name: "secret segment on an unknown API", mutate: func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			path: "/callbacks/platforms/" + pathSecret, contentType: "application/json", body: processed,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonUnknownPath},
		{name: "secret segment outside /callbacks", mutate: func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			path: "/x/callbacks/platform/" + pathSecret, contentType: "application/json", body: processed,
			status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonUnknownPath},
		{name: "root", path: "/", status: 404, reason: ingest.ReasonNotFound, counted: ingest.ReasonUnknownPath},
		{name: "wrong method", method: http.MethodGet, path: "/callbacks/platform", status: 405, reason: ingest.ReasonMethodNotAllowed},
		{name: "wrong method PUT", method: http.MethodPut, path: "/callbacks/netverify", contentType: "application/x-www-form-urlencoded", body: approved,
			status: 405, reason: ingest.ReasonMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startTracedIngest(t, nil, tc.mutate)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			resp := h.do(t, method, tc.path, tc.contentType, tc.body, tc.header)
			if resp.status != tc.status {
				t.Errorf("status: got %d (%s), want %d", resp.status, resp.problem.Type, tc.status)
			}
			if want := httpserver.ProblemTypeBase + tc.reason; resp.problem.Type != want {
				t.Errorf("problem type: got %q, want %q", resp.problem.Type, want)
			}
			if resp.problem.Status != tc.status {
				t.Errorf("problem status: got %d, want %d", resp.problem.Status, tc.status)
			}
			if tc.status == http.StatusMethodNotAllowed && resp.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow: got %q, want POST", resp.header.Get("Allow"))
			}
			if strings.Contains(resp.problem.Instance+resp.problem.Detail, pathSecret) {
				t.Errorf("problem echoes the path secret: %+v", resp.problem)
			}
			if n := len(h.stored(t)); n != 0 {
				t.Errorf("stored: got %d messages, want 0", n)
			}
			counted := tc.counted
			if counted == "" {
				counted = tc.reason
			}
			if got := h.metric(t, "kycflow_ingest_rejected_total", map[string]string{"reason": counted}); got != 1 {
				t.Errorf("kycflow_ingest_rejected_total{reason=%q}: got %v, want 1", counted, got)
			}
			// No span holds a secret segment, right or wrong; spans are
			// named by route or method only.
			h.checkSpansLack(t, pathSecret, "Zk3q9sLx-4mB7vQ2_pR9", "wrong-secret-segment")
			checkServerSpan(t, h, method, tc.status)
		})
	}
}

// spanNames are the names a server span may have: a route pattern, or the
// method alone when no route matched.
var spanNames = regexp.MustCompile(`^(POST|GET|PUT|HEAD|DELETE|PATCH|OPTIONS|CONNECT|TRACE|HTTP)( /callbacks/(platform|netverify)(/\{secret\})?)?$`)

// checkServerSpan checks the one server span of a request.
func checkServerSpan(t *testing.T, h *harness, method string, status int) {
	t.Helper()
	var server []sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			server = append(server, s)
		}
	}
	if len(server) != 1 {
		t.Fatalf("got %d server spans, want 1", len(server))
	}
	s := server[0]
	if !spanNames.MatchString(s.Name()) {
		t.Errorf("span name %q is not a route pattern or a method", s.Name())
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if got := attrs["http.request.method"]; got != method {
		t.Errorf("http.request.method: got %q, want %q", got, method)
	}
	if got := attrs["http.response.status_code"]; got != strconv.Itoa(status) {
		t.Errorf("http.response.status_code: got %q, want %d", got, status)
	}
	if got, want := s.Status().Code == codes.Error, status >= 500; got != want {
		t.Errorf("span status error: got %v, want %v", got, want)
	}
}

// TestAccepted covers the accepting side of each sender check.
func TestAccepted(t *testing.T) {
	processed := fixtureBody(t, "platform/callback-processed.json")
	approved := fixtureBody(t, "netverify/callback-approved-verified.form")
	for _, tc := range []struct {
		name        string
		mutate      func(*ingest.Config)
		path        string
		contentType string
		body        []byte
		header      http.Header
	}{
		{"Jumio address through a trusted proxy", func(c *ingest.Config) {
			c.AllowedSources = nil
			c.TrustedProxies = []string{"127.0.0.1/32", "10.0.0.0/8"}
		},
			"/callbacks/platform", "application/json", processed, http.Header{"X-Forwarded-For": {"198.51.100.7, 52.8.136.236, 10.1.2.3"}}},
		// 52.52.51.178 is on Jumio's US Netverify list only: the default
		// allowed sources are the union of the Platform and Netverify lists,
		// whichever endpoint the callback comes to.
		{"Netverify-only Jumio address through a trusted proxy", func(c *ingest.Config) {
			c.AllowedSources = nil
			c.TrustedProxies = []string{"127.0.0.1/32"}
		},
			"/callbacks/platform", "application/json", processed, http.Header{"X-Forwarded-For": {"52.52.51.178"}}},
		{"Jumio address in a second X-Forwarded-For header", func(c *ingest.Config) { c.AllowedSources = nil; c.TrustedProxies = []string{"127.0.0.1"} },
			"/callbacks/netverify", "application/x-www-form-urlencoded", approved, http.Header{"X-Forwarded-For": {"198.51.100.7", "34.202.241.227"}}},
		{"source check off", func(c *ingest.Config) { c.AllowedSources = nil; c.CheckSourceIP = false },
			"/callbacks/platform", "application/json", processed, nil},
		{"secret segment", func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			"/callbacks/platform/" + pathSecret, "application/json", processed, nil},
		{"secret segment on Netverify query string", func(c *ingest.Config) { c.PathSecret = secret(pathSecret) },
			"/callbacks/netverify/" + pathSecret + "?" + strings.TrimSpace(string(approved)), "", nil, nil},
		{"user reference signed with the previous secret", func(c *ingest.Config) { c.UserReferenceSecrets = secret("current, previous") },
			"/callbacks/platform", "application/json", platformWithUserRef(t, signed(t, "previous", time.Now().Add(-time.Hour))), nil},
		{"user reference not checked on Netverify by default", func(c *ingest.Config) { c.UserReferenceSecrets = secret("current") },
			"/callbacks/netverify", "application/x-www-form-urlencoded", approved, nil},
		{"JSON with charset", nil, "/callbacks/platform", "application/json; charset=utf-8", processed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startTracedIngest(t, nil, tc.mutate)
			if resp := h.post(t, tc.path, tc.contentType, tc.body, tc.header); resp.status != http.StatusOK {
				t.Fatalf("status: got %d (%s: %s), want 200", resp.status, resp.problem.Type, resp.problem.Detail)
			}
			if n := len(h.stored(t)); n != 1 {
				t.Errorf("stored: got %d messages, want 1", n)
			}
			// Neither the secret nor the query string (a whole Netverify
			// callback) reaches a span.
			h.checkSpansLack(t, pathSecret, "JANE", "idFirstName", "usr_7f3a9c")
			checkServerSpan(t, h, http.MethodPost, http.StatusOK)
		})
	}
}

// TestRateLimit: the per-address limit applies to addresses outside the
// allowed sources: past the burst they get 429 with Retry-After, each
// address on its own; an allowed source (Jumio's addresses) is never
// limited, and with the source check on a stranger is told 403 until its
// burst is spent.
func TestRateLimit(t *testing.T) {
	const burst = 2
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	limited := func(c *ingest.Config) {
		c.RateLimit = 0.001
		c.RateBurst = burst
		c.TrustedProxies = []string{"127.0.0.1"}
		c.AllowedSources = []string{"192.0.2.0/24"}
	}
	t.Run("allowed source", func(t *testing.T) {
		h := startIngest(t, nil, limited)
		for i := range 3 * burst {
			if r := h.send2(t, bench.PlatformCallback(t.Name(), i), from("192.0.2.1")); r.status != http.StatusOK {
				t.Fatalf("request %d: got %d %q, want 200", i, r.status, r.problem.Type)
			}
		}
		if got := h.metric(t, "kycflow_ingest_rejected_total", nil); got != 0 {
			t.Errorf("rejected: got %v, want 0", got)
		}
	})
	t.Run("source check off", func(t *testing.T) {
		h := startIngest(t, nil, func(c *ingest.Config) { limited(c); c.CheckSourceIP = false })
		for i := range burst {
			if r := h.send2(t, bench.PlatformCallback(t.Name(), i), from("198.51.100.7")); r.status != http.StatusOK {
				t.Fatalf("request %d: got %d, want 200", i, r.status)
			}
		}
		r := h.send2(t, bench.PlatformCallback(t.Name(), burst), from("198.51.100.7"))
		if r.status != http.StatusTooManyRequests || r.problem.Type != httpserver.ProblemTypeBase+ingest.ReasonRateLimited {
			t.Fatalf("past the burst: got %d %q, want 429 rate-limited", r.status, r.problem.Type)
		}
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Errorf("Retry-After: got %q", ra)
		}
		if r := h.send2(t, bench.PlatformCallback(t.Name(), burst+1), from("198.51.100.8")); r.status != http.StatusOK {
			t.Errorf("another address: got %d, want 200", r.status)
		}
		if r := h.send2(t, bench.PlatformCallback(t.Name(), burst+2), from("192.0.2.1")); r.status != http.StatusOK {
			t.Errorf("an allowed source: got %d, want 200", r.status)
		}
		if n := len(h.stored(t)); n != burst+2 {
			t.Errorf("stored: got %d, want %d", n, burst+2)
		}
	})
	t.Run("source check on", func(t *testing.T) {
		h := startIngest(t, nil, limited)
		for i := range burst {
			if r := h.send2(t, bench.PlatformCallback(t.Name(), i), from("198.51.100.7")); r.status != http.StatusForbidden {
				t.Fatalf("request %d: got %d, want 403", i, r.status)
			}
		}
		if r := h.send2(t, bench.PlatformCallback(t.Name(), burst), from("198.51.100.7")); r.status != http.StatusTooManyRequests {
			t.Errorf("past the burst: got %d, want 429", r.status)
		}
		if n := len(h.stored(t)); n != 0 {
			t.Errorf("stored: got %d, want 0", n)
		}
	})
	t.Run("secret guesses", func(t *testing.T) {
		// Guesses at the secret segment spend the sender's budget as
		// callbacks do: past it, 429, and no guess gets a 404 more.
		h := startIngest(t, nil, func(c *ingest.Config) {
			limited(c)
			c.CheckSourceIP = false
			c.PathSecret = secret(pathSecret)
		})
		guess := func(i int, addr string) response {
			cb := bench.PlatformCallback(t.Name(), i)
			return h.post(t, "/callbacks/platform/guess-"+strconv.Itoa(i), cb.ContentType, cb.Body, from(addr))
		}
		for i := range burst {
			if r := guess(i, "198.51.100.7"); r.status != http.StatusNotFound {
				t.Fatalf("guess %d: got %d, want 404", i, r.status)
			}
		}
		if r := guess(burst, "198.51.100.7"); r.status != http.StatusTooManyRequests || r.problem.Type != httpserver.ProblemTypeBase+ingest.ReasonRateLimited {
			t.Errorf("guess past the burst: got %d %q, want 429 rate-limited", r.status, r.problem.Type)
		}
		cb := bench.PlatformCallback(t.Name(), 9)
		if r := h.post(t, "/callbacks/platform/"+pathSecret, cb.ContentType, cb.Body, from("198.51.100.7")); r.status != http.StatusTooManyRequests {
			t.Errorf("the right secret from the same address past its budget: got %d, want 429", r.status)
		}
		for i := range 3 * burst {
			if r := guess(10+i, "192.0.2.1"); r.status != http.StatusNotFound {
				t.Fatalf("an allowed source's guess %d: got %d, want 404 (never rate limited)", i, r.status)
			}
		}
	})
	t.Run("IPv6 by the configured prefix", func(t *testing.T) {
		// Two /64s of one /56 share a bucket at prefix 56, which the
		// default 64 would keep apart; the next /56 has its own.
		h := startIngest(t, nil, func(c *ingest.Config) {
			limited(c)
			c.CheckSourceIP = false
			c.RateLimitIPv6Prefix = 56
		})
		for i := range burst {
			if r := h.send2(t, bench.PlatformCallback(t.Name(), i), from("2001:db8:1:200::1")); r.status != http.StatusOK {
				t.Fatalf("request %d: got %d, want 200", i, r.status)
			}
		}
		if r := h.send2(t, bench.PlatformCallback(t.Name(), burst), from("2001:db8:1:2ff::9")); r.status != http.StatusTooManyRequests {
			t.Errorf("another /64 of the same /56 past the burst: got %d, want 429", r.status)
		}
		if r := h.send2(t, bench.PlatformCallback(t.Name(), burst+1), from("2001:db8:1:300::1")); r.status != http.StatusOK {
			t.Errorf("the next /56: got %d, want 200", r.status)
		}
	})
}

func (h *harness) send2(t *testing.T, cb bench.Callback, header http.Header) response {
	t.Helper()
	return h.post(t, "/callbacks/"+string(cb.API), cb.ContentType, cb.Body, header)
}

// TestMetricNames: the metrics are exposed under their documented names
// with units.
func TestMetricNames(t *testing.T) {
	h := startIngest(t, nil, nil)
	h.send(t, bench.PlatformCallback(t.Name(), 0))
	h.post(t, "/nope", "", nil, nil)
	resp, err := h.client.Get(h.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := fmt.Fprint(&b, readAll(t, resp)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`kycflow_ingest_callbacks_total{api="platform",outcome="accepted"} 1`,
		`kycflow_ingest_rejected_total{api="none",reason="unknown-path"} 1`,
		`kycflow_ingest_publish_duration_seconds_bucket{api="platform",outcome="accepted",le="`,
		`kycflow_ingest_in_flight_requests`,
		`kycflow_ingest_request_duration_seconds_bucket{api="platform",outcome="accepted",le="`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(b.String(), "/callbacks/platform/") {
		t.Errorf("/metrics holds a callback path with a segment")
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

var _ = url.Values{}

// TestAlteredNetverifyCopyCannotSuppressTheGenuine: the Netverify event id
// covers the whole callback, so a copy that differs in any field (here a
// name), arriving first, is stored as a callback of its own and the
// genuine callback after it is stored too, not dropped as its duplicate;
// Jumio's identical repeats of the genuine one, as a form body or as a
// query string, are stored once.
func TestAlteredNetverifyCopyCannotSuppressTheGenuine(t *testing.T) {
	h := startIngest(t, nil, nil)
	const form = "application/x-www-form-urlencoded"
	genuine := fixtureBody(t, "netverify/callback-approved-verified.form")
	for _, tc := range []struct{ name, from, to string }{
		{"a name", "idFirstName=JANE", "idFirstName=MALLORY"},
		{"a field added", "idFirstName=JANE", "idFirstName=JANE&idFirstName=MALLORY"},
		{"a field removed", "&idFirstName=JANE", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh scan reference per case: the cases must not be
			// duplicates of each other.
			ref := string(fixtureRef(t, genuine))
			fresh := "5b6c7d8e-1111-4222-8333-9444555566" + fmt.Sprintf("%02d", len(tc.name))
			real := bytes.ReplaceAll(genuine, []byte(ref), []byte(fresh))
			altered := bytes.Replace(real, []byte(tc.from), []byte(tc.to), 1)
			if bytes.Equal(altered, real) {
				t.Fatalf("the fixture has no %q", tc.from)
			}
			before := len(h.stored(t))
			a := h.post(t, "/callbacks/netverify", form, altered, nil)
			g := h.post(t, "/callbacks/netverify", form, real, nil)
			if a.status != http.StatusOK || g.status != http.StatusOK {
				t.Fatalf("altered %d, genuine %d, want 200 both", a.status, g.status)
			}
			aID, gID := a.header.Get(events.HeaderEventID), g.header.Get(events.HeaderEventID)
			if aID == gID {
				t.Fatalf("altered copy and genuine callback share event id %s", gID)
			}
			if got := len(h.stored(t)) - before; got != 2 {
				t.Fatalf("stored %d, want 2: the genuine callback was dropped as a duplicate", got)
			}
			if !h.storedIDs(t)[gID] {
				t.Errorf("genuine callback %s not stored", gID)
			}
			// Jumio's repeats: the same body, and the same fields as a query
			// string.
			for _, resend := range []response{
				h.post(t, "/callbacks/netverify", form, real, nil),
				h.post(t, "/callbacks/netverify?"+strings.TrimSpace(string(real)), "", nil, nil),
			} {
				if resend.status != http.StatusOK || resend.header.Get(events.HeaderEventID) != gID {
					t.Errorf("repeat: %d, event id %s, want 200 and %s", resend.status, resend.header.Get(events.HeaderEventID), gID)
				}
			}
			if got := len(h.stored(t)) - before; got != 2 {
				t.Errorf("after Jumio's repeats: stored %d, want still 2", got)
			}
		})
	}
}

// TestCopyNamingAnotherAccountCannotSuppressTheGenuine: a Platform
// callback copied with the execution's id, status and exact
// callbackSentAt but another account, arriving first, is stored as a
// callback of its own (the account is part of the event id); Jumio's
// genuine callback after it is stored too, under its own account, not
// dropped as the copy's duplicate.
func TestCopyNamingAnotherAccountCannotSuppressTheGenuine(t *testing.T) {
	h := startIngest(t, nil, nil)
	genuine := fixtureBody(t, "platform/callback-processed.json")
	const account, other = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "00000000-0000-4000-8000-000000000bad"
	forged := bytes.ReplaceAll(genuine, []byte(account), []byte(other))
	f := h.post(t, "/callbacks/platform", "application/json", forged, nil)
	g := h.post(t, "/callbacks/platform", "application/json", genuine, nil)
	if f.status != http.StatusOK || g.status != http.StatusOK {
		t.Fatalf("copy %d, genuine %d, want 200 both", f.status, g.status)
	}
	if f.header.Get(events.HeaderEventID) == g.header.Get(events.HeaderEventID) {
		t.Fatalf("the copy naming another account and the genuine callback share event id %s", g.header.Get(events.HeaderEventID))
	}
	var subjects []string
	for _, m := range h.stored(t) {
		subjects = append(subjects, m.Subject)
	}
	want := []string{
		"jumio.callbacks.platform." + other + ".9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f",
		"jumio.callbacks.platform." + account + ".9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f",
	}
	if diff := cmp.Diff(want, subjects); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
}

// TestPlatformIDsInUpperCaseAreTheSameExecution: a copy of a Platform
// callback whose ids are in upper case names the same execution (UUIDs):
// it is stored under the ids in lower case, with the genuine callback's
// event id, so that the genuine one is its duplicate and the execution is
// enriched and delivered once, not once per spelling.
func TestPlatformIDsInUpperCaseAreTheSameExecution(t *testing.T) {
	h := startIngest(t, nil, nil)
	genuine := fixtureBody(t, "platform/callback-processed.json")
	const account, execution = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	upper := bytes.ReplaceAll(genuine, []byte(account), []byte(strings.ToUpper(account)))
	upper = bytes.ReplaceAll(upper, []byte(execution), []byte(strings.ToUpper(execution)))
	u := h.post(t, "/callbacks/platform", "application/json", upper, nil)
	g := h.post(t, "/callbacks/platform", "application/json", genuine, nil)
	if u.status != http.StatusOK || g.status != http.StatusOK {
		t.Fatalf("upper case %d, genuine %d, want 200 both", u.status, g.status)
	}
	if u.header.Get(events.HeaderEventID) != g.header.Get(events.HeaderEventID) {
		t.Errorf("event ids %s and %s: one execution's callback under two ids", u.header.Get(events.HeaderEventID), g.header.Get(events.HeaderEventID))
	}
	var subjects []string
	for _, m := range h.stored(t) {
		subjects = append(subjects, m.Subject)
	}
	if want := []string{"jumio.callbacks.platform." + account + "." + execution}; !slices.Equal(subjects, want) {
		t.Errorf("stored under %v, want %v", subjects, want)
	}
}

// TestNetverifyReferenceInUpperCaseIsTheSameScan: a Netverify callback
// whose scan reference is in upper case is stored under the reference in
// lower case, the scan's subject, not as a scan of its own.
func TestNetverifyReferenceInUpperCaseIsTheSameScan(t *testing.T) {
	h := startIngest(t, nil, nil)
	genuine := fixtureBody(t, "netverify/callback-approved-verified.form")
	ref := string(fixtureRef(t, genuine))
	upper := bytes.ReplaceAll(genuine, []byte(ref), []byte(strings.ToUpper(ref)))
	if r := h.post(t, "/callbacks/netverify", "application/x-www-form-urlencoded", upper, nil); r.status != http.StatusOK {
		t.Fatalf("status %d, want 200", r.status)
	}
	var subjects []string
	for _, m := range h.stored(t) {
		subjects = append(subjects, m.Subject)
	}
	if want := []string{"jumio.callbacks.netverify.legacy." + strings.ToLower(ref)}; !slices.Equal(subjects, want) {
		t.Errorf("stored under %v, want %v", subjects, want)
	}
}

// fixtureRef is the jumioIdScanReference of a Netverify form.
func fixtureRef(t *testing.T, form []byte) []byte {
	t.Helper()
	v, err := url.ParseQuery(strings.TrimSpace(string(form)))
	if err != nil || v.Get("jumioIdScanReference") == "" {
		t.Fatalf("fixture without jumioIdScanReference: %v", err)
	}
	return []byte(v.Get("jumioIdScanReference"))
}
