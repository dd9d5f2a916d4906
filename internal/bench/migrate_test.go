package bench

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
)

// TestRunMigrateSmoke runs the migration benchmark briefly (200 scans,
// one round of a second): every scan must be migrated, the round measured
// alone and with the migration, and the budget's shares computed from the
// simulator's counts (figures are not asserted).
func TestRunMigrateSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs a migration for a minute")
	}
	dir := t.TempDir()
	bins, err := rig.Build(t.Context(), rig.BuildConfig{Dir: dir, Race: raceEnabled})
	if err != nil {
		t.Fatal(err)
	}
	opts := MigrateOptions{Scans: 200, Rounds: 1, Window: time.Second, Dir: dir, Binaries: &bins, Progress: testWriter{t}}
	if os.Getenv("KYCFLOW_TEST_LOG") != "" {
		opts.Log = os.Stderr
	}
	res, err := RunMigrate(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Migrated != opts.Scans || res.Failed != 0 {
		t.Errorf("migrated %d of %d scans, %d refused", res.Migrated, opts.Scans, res.Failed)
	}
	if len(res.Rounds) != opts.Rounds {
		t.Fatalf("%d rounds, want %d", len(res.Rounds), opts.Rounds)
	}
	for i, r := range res.Rounds {
		if r.AloneP99 <= 0 || r.WithP99 <= 0 || r.Ratio <= 0 {
			t.Errorf("round %d: %+v, want both p99s and their ratio", i+1, r)
		}
	}
	if res.P99Ratio <= 0 || res.LeftOverPerSecond <= 0 || res.MigrationRequestsPerSecond <= 0 || res.JumioRequests == 0 {
		t.Errorf("result %+v: want the median ratio, the budget's shares and the requests counted", res)
	}
	var b strings.Builder
	WriteMigrate(&b, res, ThisMachine())
	t.Log("\n" + b.String())
	for _, want := range []string{"live p99 with the migration", "Jumio requests in the windows with the migration", "migrated 200 of 200 scans"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report does not mention %q", want)
		}
	}
}
