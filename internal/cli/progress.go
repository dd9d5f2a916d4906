package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress reports how far a long operation is: a bar redrawn in place on
// a terminal, a plain line every few seconds otherwise (logs, CI).
type progress struct {
	w        io.Writer
	what     string
	total    int
	terminal bool
	started  time.Time
	last     time.Time
	now      func() time.Time
}

func newProgress(w io.Writer, what string, total int) *progress {
	p := &progress{w: w, what: what, total: total, terminal: isTerminal(w), now: time.Now}
	p.started = p.now()
	return p
}

// plainEvery is how often the plain form prints a line.
const plainEvery = 5 * time.Second

// update reports done of total.
func (p *progress) update(done int) {
	now := p.now()
	if p.terminal {
		if now.Sub(p.last) < 100*time.Millisecond && done < p.total {
			return
		}
		p.last = now
		const width = 30
		filled := 0
		if p.total > 0 {
			filled = width * done / p.total
		}
		fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %s", p.what, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, p.total, p.eta(done, now))
		return
	}
	if p.last.IsZero() {
		p.last = p.started // the first line after plainEvery, not at once
	}
	if now.Sub(p.last) < plainEvery {
		return // short operations print no progress at all
	}
	p.last = now
	fmt.Fprintf(p.w, "%s: %d of %d %s\n", p.what, done, p.total, p.eta(done, now))
}

func (p *progress) eta(done int, now time.Time) string {
	if done == 0 || done >= p.total {
		return ""
	}
	left := time.Duration(float64(now.Sub(p.started)) / float64(done) * float64(p.total-done))
	return "(about " + left.Round(time.Second).String() + " left)"
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.terminal && !p.last.IsZero() {
		fmt.Fprintln(p.w)
	}
}
