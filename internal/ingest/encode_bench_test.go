package ingest

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// BenchmarkEncodeEvent compares appendEvent with encoding/json (HTML
// escaping off, as stdEncode) on the event of a Platform and of a
// Netverify callback; the figures are quoted next to appendEvent.
func BenchmarkEncodeEvent(b *testing.B) {
	received := time.Date(2024, 3, 14, 10, 15, 31, 123456789, time.UTC)
	pb, err := os.ReadFile("../../pkg/jumio/testdata/platform/callback-processed.json")
	if err != nil {
		b.Fatal(err)
	}
	cb, err := wire.ParsePlatformCallback(pb)
	if err != nil {
		b.Fatal(err)
	}
	nb, err := os.ReadFile("../../pkg/jumio/testdata/netverify/callback-approved-verified.form")
	if err != nil {
		b.Fatal(err)
	}
	m, raw, err := wire.ParseNetverifyRequest(nb, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ev   events.CallbackEvent
	}{
		{"platform", cb.Event(wire.RegionAMER, received, pb)},
		{"netverify", m.Event(wire.RegionEMEA, received, raw)},
	} {
		b.Run(tc.name+"/hand-written", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				if _, err := appendEvent(buf[:0], tc.ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			for b.Loop() {
				buf.Reset()
				if err := enc.Encode(tc.ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
