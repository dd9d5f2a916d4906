package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// streamedNetverifyEventID is NetverifyEventID as it was first written:
// the fields sorted in place and each part written to the hash. Stored
// callbacks carry ids made this way, and a repeat of one must get the
// same id, so the faster form must not drift from it.
func streamedNetverifyEventID(fields []FormField) string {
	slices.SortStableFunc(fields, func(a, b FormField) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	h.Write([]byte("netverify/v2\x00"))
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Name)))
		h.Write(n[:])
		h.Write([]byte(f.Name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Value)))
		h.Write(n[:])
		h.Write([]byte(f.Value))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func streamedEventID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestEventIDsAsFirstWritten: the ids are those of the streamed form, on
// forms with repeated names, more fields than the stack holds and more
// bytes than the stack buffer, and NetverifyEventID leaves its argument
// as it was.
func TestEventIDsAsFirstWritten(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(max int) string {
		b := make([]byte, r.IntN(max+1))
		for i := range b {
			b[i] = "abcAB%=&\x00é"[r.IntN(11)]
		}
		return string(b)
	}
	for i := range 300 {
		fields := make([]FormField, r.IntN(100))
		for j := range fields {
			fields[j] = FormField{Name: word(3), Value: word(8 + 60*(i%3))}
		}
		orig := slices.Clone(fields)
		got := NetverifyEventID(fields)
		if want := streamedNetverifyEventID(slices.Clone(fields)); got != want {
			t.Fatalf("form %d (%d fields): got %s, want %s", i, len(fields), got, want)
		}
		if !slices.Equal(fields, orig) {
			t.Fatalf("form %d: fields changed", i)
		}
		parts := make([]string, r.IntN(6))
		for j := range parts {
			parts[j] = word(200 * (i % 4))
		}
		if got, want := EventID(parts...), streamedEventID(parts...); got != want {
			t.Fatalf("parts %d: got %s, want %s", i, got, want)
		}
	}
}

// BenchmarkNetverifyEventID compares NetverifyEventID with the streamed
// form on a callback of 30 fields in the order Jumio sends them (the
// figures are quoted next to NetverifyEventID).
func BenchmarkNetverifyEventID(b *testing.B) {
	fields := make([]FormField, 30)
	for i := range fields {
		fields[i] = FormField{Name: "field" + strings.Repeat("x", (i*7)%13), Value: strings.Repeat("v", 20+i%9)}
	}
	b.Run("one-piece", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NetverifyEventID(fields)
		}
	})
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		sorted := make([]FormField, len(fields))
		for b.Loop() {
			copy(sorted, fields)
			streamedNetverifyEventID(sorted)
		}
	})
}
