package wire

import (
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkDecodeCallback compares decodeCallback with encoding/json on a
// Platform callback as Jumio sends it (the figures are quoted next to
// decodeCallback).
func BenchmarkDecodeCallback(b *testing.B) {
	body, err := os.ReadFile("../testdata/platform/callback-processed.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var cb Callback
			if ok, err := decodeCallback(body, &cb); !ok || err != nil {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var cb Callback
			if err := json.Unmarshal(body, &cb); err != nil {
				b.Fatal(err)
			}
		}
	})
}
