package ingest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// chunks hands out its data a few bytes per Read, as a slow client does.
type chunks struct{ r io.Reader }

func (c chunks) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), 7)]) }

// TestReadBodyStaysWithinLimit: the memory a body is read into never
// grows past the configured limit, whatever Content-Length claims (a
// megabyte for ten bytes, nothing for a chunked body over the limit).
func TestReadBodyStaysWithinLimit(t *testing.T) {
	const limit = 1 << 10
	for _, tc := range []struct {
		name          string
		body          int
		contentLength int64
		wantStatus    int
	}{
		{"small, lying 1 MiB", 10, 1 << 20, 0},
		{"small, lying 64 MiB", 10, 64 << 20, 0},
		{"exactly the limit", limit, limit, 0},
		{"exactly the limit, chunked", limit, -1, 0},
		{"a byte over, chunked", limit + 1, -1, http.StatusRequestEntityTooLarge},
		{"far over, lying small", 50 << 10, 100, http.StatusRequestEntityTooLarge},
		{"the limit, lying small", limit, 100, 0},
		{"the limit, chunked from a small start", limit, 3, 0},
		{"far over, chunked", 50 << 10, -1, http.StatusRequestEntityTooLarge},
		{"empty", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Repeat("x", tc.body)
			r := httptest.NewRequest(http.MethodPost, "/callbacks/platform", nil)
			r.ContentLength = tc.contentLength
			rec := httptest.NewRecorder()
			r.Body = http.MaxBytesReader(rec, io.NopCloser(chunks{strings.NewReader(data)}), limit)
			var buf bytes.Buffer
			got, rj := readBody(r, &buf, limit)
			switch {
			case tc.wantStatus != 0:
				if rj == nil || rj.status != tc.wantStatus {
					t.Errorf("got %v, want status %d", rj, tc.wantStatus)
				}
			case rj != nil:
				t.Errorf("rejected with %d (%s)", rj.status, rj.reason)
			case string(got) != data:
				t.Errorf("read %d bytes, want %d", len(got), tc.body)
			}
			if c := cap(got); c > limit {
				t.Errorf("body read into %d bytes, limit %d", c, limit)
			}
			if c := buf.Cap(); c > limit {
				t.Errorf("buffer grew to %d bytes, limit %d", c, limit)
			}
		})
	}
}
