package wire

import (
	"os"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/pkg/events"
)

// BenchmarkParseNetverifyRequestIDs measures what ingest does with each
// Netverify callback: scan the form, check its escapes and UTF-8, read the
// ids and hash the whole callback into its event id (the figures are
// quoted next to scanIDForm).
func BenchmarkParseNetverifyRequestIDs(b *testing.B) {
	body, err := os.ReadFile("../testdata/netverify/callback-approved-verified.form")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := ParseNetverifyRequestIDs(body, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseNetverifyRequestIDsAllocations: reading a 30-field callback
// takes the allocations quoted next to scanIDForm, no more: the decoded
// names and values share one buffer, and the fields stay on the stack.
func TestParseNetverifyRequestIDsAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	body, err := os.ReadFile("../testdata/netverify/callback-approved-verified.form")
	if err != nil {
		t.Fatal(err)
	}
	got := testing.AllocsPerRun(100, func() {
		if _, _, err := ParseNetverifyRequestIDs(body, ""); err != nil {
			t.Fatal(err)
		}
	})
	if got > 7 {
		t.Errorf("got %v allocations, want at most 7", got)
	}
}

// TestScanIDFormBareNamesShareTheBuffer: a field sent without '=' takes
// no more of the decode buffer's room than one with an empty value: the
// escaped names and values after many such fields still share one
// buffer, not one allocation each.
func TestScanIDFormBareNamesShareTheBuffer(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	allocs := func(name string) float64 {
		body := []byte(strings.Repeat(name+"&", 100) + strings.TrimSuffix(strings.Repeat("a+b=c+d&", 20), "&"))
		var stack [200]events.FormField
		return testing.AllocsPerRun(50, func() {
			if _, _, _, err := scanIDForm(body, "", stack[:0]); err != nil {
				t.Fatal(err)
			}
		})
	}
	if bare, empty := allocs("a"), allocs("a="); bare != empty {
		t.Errorf("bare names: %v allocations, empty values: %v", bare, empty)
	}
}
