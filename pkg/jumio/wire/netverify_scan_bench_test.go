package wire

import (
	"os"
	"testing"
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
