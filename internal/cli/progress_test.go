package cli

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a settable time for a progress display.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func testProgress(terminal bool) (*progress, *bytes.Buffer, *clock) {
	c := &clock{t: time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	return &progress{w: &buf, what: "replay notify", total: 10, terminal: terminal, started: c.t, now: c.now}, &buf, c
}

// TestProgressOnATerminal: the bar is redrawn in place on one line, at
// most every 100ms but always at the end, and finish ends the line.
func TestProgressOnATerminal(t *testing.T) {
	p, buf, c := testProgress(true)
	c.advance(time.Second)
	p.update(1)
	c.advance(50 * time.Millisecond)
	p.update(2) // too soon: not drawn
	c.advance(3950 * time.Millisecond)
	p.update(5)
	c.advance(10 * time.Millisecond)
	p.update(10) // the last one is drawn however soon
	p.finish()

	out := buf.String()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("got %q, want one line", out)
	}
	frames := strings.Split(strings.TrimSuffix(out, "\n"), "\r")
	want := []string{
		"",
		"replay notify [===                           ] 1/10 (about 9s left)",
		"replay notify [===============               ] 5/10 (about 5s left)",
		"replay notify [==============================] 10/10 ",
	}
	if diff := cmp.Diff(want, frames); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

// TestProgressOffATerminal: plain lines, the first after five seconds and
// then at most one every five seconds; a short operation prints none.
func TestProgressOffATerminal(t *testing.T) {
	p, buf, c := testProgress(false)
	c.advance(time.Second)
	p.update(1)
	c.advance(4 * time.Second)
	p.update(3)
	c.advance(time.Second)
	p.update(4)
	c.advance(4 * time.Second)
	p.update(8)
	c.advance(time.Second)
	p.update(10)
	p.finish()
	want := "replay notify: 3 of 10 (about 12s left)\n" +
		"replay notify: 8 of 10 (about 3s left)\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	short, buf, c := testProgress(false)
	for i := 1; i <= 10; i++ {
		c.advance(400 * time.Millisecond)
		short.update(i)
	}
	short.finish()
	if buf.Len() != 0 {
		t.Errorf("a four-second operation printed %q", buf.String())
	}
}

// TestProgressKnowsNoTerminal: a buffer, a file and a pipe get the plain
// lines.
func TestProgressKnowsNoTerminal(t *testing.T) {
	f, err := os.Create(t.TempDir() + "/progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, out := range map[string]io.Writer{"buffer": &bytes.Buffer{}, "file": f, "pipe": w} {
		if newProgress(out, "x", 1).terminal {
			t.Errorf("%s taken for a terminal", name)
		}
	}
}
