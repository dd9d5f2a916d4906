package enricher_test

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// lockedBuffer is a bytes.Buffer a logger may write to from many
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestUnreadableFieldsAreCountedAndLogged: a Netverify ID callback that
// says APPROVED_VERIFIED but whose identityVerification is truncated JSON
// goes out as a manual review (WARNING), never PASSED; the enricher counts
// the field (kycflow_enricher_unreadable_fields) and logs it with the ids
// only, never the field's value.
func TestUnreadableFieldsAreCountedAndLogged(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	var logs lockedBuffer
	h.tel.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := h.config()
	cfg.NetverifyConfirm = enricher.ConfirmOff // the callback's own fields are mapped
	h.start(cfg, nil)

	const secret = "NOMATCHSECRET"
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 5, NetverifyScans: 1})
	values := mustParseQuery(t, string(h.jumio.NetverifyCallback(scans[0], time.Now())))
	values.Set("verificationStatus", "APPROVED_VERIFIED")
	values.Del("rejectReason")
	values.Set("identityVerification", `{"similarity":"NO_MATCH","validity":"`+secret)
	form := values.Encode()
	m, err := wire.ParseNetverifyCallback(values)
	if err != nil {
		t.Fatal(err)
	}
	ev := m.Event(wire.RegionAMER, time.Now(), form)
	h.publish(ev, nil)
	h.settle(1)

	r := h.enriched()[0].Event.Result
	if r.Decision.Type != events.DecisionWarning || r.VerificationStatus == "APPROVED_VERIFIED" {
		t.Errorf("decision %s, verificationStatus %q: want WARNING and no APPROVED_VERIFIED", r.Decision.Type, r.VerificationStatus)
	}
	if len(r.UnreadableFields) != 1 || r.UnreadableFields[0] != "identityVerification" {
		t.Errorf("unreadable fields %v, want [identityVerification]", r.UnreadableFields)
	}
	if n := h.counter(enricher.MetricUnreadableFields, attribute.String("api", "netverify"), attribute.String("field", "identityVerification")); n != 1 {
		t.Errorf("%s{api=netverify,field=identityVerification} = %d, want 1", enricher.MetricUnreadableFields, n)
	}
	out := logs.String()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "unreadable fields") {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, ev.EventID) || !strings.Contains(line, `"identityVerification"`) {
		t.Errorf("no log line naming the event and the field:\n%s", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, url.QueryEscape(secret)) {
		t.Errorf("the logs quote the unreadable value:\n%s", out)
	}
}
