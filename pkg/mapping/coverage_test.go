package mapping

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// coveragePath is the coverage table: every value docs/jumio.md documents,
// what the mapping makes of it, and whether that is what docs/jumio.md says.
const coveragePath = "testdata/coverage.tsv"

// coverageRow is one line of the coverage table.
type coverageRow struct {
	// Area says what kind of value it is and which probe maps it
	// ("netverify.rejectCode", "platform.label", …).
	Area string
	// Value is the documented value or field.
	Value string
	// Maps is what the probe of the area says the mapping made of it,
	// through the real code; "—" when the result does not carry it.
	Maps string
	// Status is "mapped" (as docs/jumio.md says) or "deviates" (Note says
	// why, citing its source).
	Status string
	// Before is how the mapping treated the value before this table
	// existed: "mapped", "questionable" (carried, but not as docs/jumio.md
	// says, or deviating without a reason) or "missing" (not carried).
	Before string
	// Source is the section of docs/jumio.md and its source ids.
	Source string
	// Note says why a value deviates, or how it is carried.
	Note string
}

var coverageColumns = []string{"area", "value", "maps", "status", "before", "source", "note"}

func readCoverage(t testing.TB) []coverageRow {
	t.Helper()
	lines := strings.Split(strings.TrimRight(string(readFile(t, coveragePath)), "\n"), "\n")
	if lines[0] != strings.Join(coverageColumns, "\t") {
		t.Fatalf("%s: header %q, want %q", coveragePath, lines[0], strings.Join(coverageColumns, "\t"))
	}
	var rows []coverageRow
	for i, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != len(coverageColumns) {
			t.Fatalf("%s:%d: %d columns, want %d", coveragePath, i+2, len(f), len(coverageColumns))
		}
		rows = append(rows, coverageRow{f[0], f[1], f[2], f[3], f[4], f[5], f[6]})
	}
	return rows
}

func writeCoverage(t testing.TB, rows []coverageRow) {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(coverageColumns, "\t") + "\n")
	for _, r := range rows {
		b.WriteString(strings.Join([]string{r.Area, r.Value, r.Maps, r.Status, r.Before, r.Source, r.Note}, "\t") + "\n")
	}
	if err := os.WriteFile(coveragePath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// coverageCount is the count at the top of docs/mapping.md.
type coverageCount struct {
	total, mapped, deviates             int
	beforeMapped, questionable, missing int
}

func countCoverage(rows []coverageRow) coverageCount {
	var c coverageCount
	for _, r := range rows {
		c.total++
		switch r.Status {
		case "mapped":
			c.mapped++
		case "deviates":
			c.deviates++
		}
		switch r.Before {
		case "mapped":
			c.beforeMapped++
		case "questionable":
			c.questionable++
		case "missing":
			c.missing++
		}
	}
	return c
}

func (c coverageCount) String() string {
	return fmt.Sprintf("%d of %d documented values covered: %d mapped as docs/jumio.md says, %d deviating with the reason and its source (before this table: %d mapped, %d questionable, %d missing)",
		c.mapped+c.deviates, c.total, c.mapped, c.deviates, c.beforeMapped, c.questionable, c.missing)
}

// TestCoverage maps every value of the coverage table through the real
// code and compares what the mapping makes of it with the table's maps
// column; go test ./pkg/mapping -update rewrites that column (review the
// diff: a changed row is a changed mapping). Every row must say whether it
// is mapped as docs/jumio.md says or deviates, and a deviation must say
// why and cite its source.
func TestCoverage(t *testing.T) {
	rows := readCoverage(t)
	seen := map[string]bool{}
	for i := range rows {
		r := &rows[i]
		key := r.Area + "\t" + r.Value
		if seen[key] {
			t.Errorf("%s %s: listed twice", r.Area, r.Value)
		}
		seen[key] = true
		probe, ok := probes[r.Area]
		if !ok {
			t.Errorf("%s %s: no probe for area %s", r.Area, r.Value, r.Area)
			continue
		}
		got := probe(t, r.Value)
		if strings.ContainsAny(got, "\t\n") {
			t.Fatalf("%s %s: probe output %q holds a tab or a newline", r.Area, r.Value, got)
		}
		if *update {
			r.Maps = got
		} else if got != r.Maps {
			t.Errorf("%s %s:\n got  %s\n want %s\n(if intended, run go test ./pkg/mapping -update and review the diff)", r.Area, r.Value, got, r.Maps)
		}
		if !slices.Contains([]string{"mapped", "deviates"}, r.Status) {
			t.Errorf("%s %s: status %q, want mapped or deviates", r.Area, r.Value, r.Status)
		}
		if !slices.Contains([]string{"mapped", "questionable", "missing"}, r.Before) {
			t.Errorf("%s %s: before %q, want mapped, questionable or missing", r.Area, r.Value, r.Before)
		}
		if !strings.HasPrefix(r.Source, "docs/jumio.md ") {
			t.Errorf("%s %s: source %q does not cite docs/jumio.md", r.Area, r.Value, r.Source)
		}
		if r.Status == "deviates" && (r.Note == "" || !strings.Contains(r.Note, "docs/jumio.md")) {
			t.Errorf("%s %s: a deviation needs a note that cites its source in docs/jumio.md", r.Area, r.Value)
		}
	}
	if *update {
		writeCoverage(t, rows)
	}
	if dump := os.Getenv("KYCFLOW_COVERAGE_DUMP"); dump != "" {
		var b strings.Builder
		for _, r := range readCoverage(t) {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", r.Area, r.Value, probes[r.Area](t, r.Value))
		}
		if err := os.WriteFile(filepath.Clean(dump), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Log(countCoverage(rows))
}
