package bench

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/kycflow/kycflow/internal/bench/rig"
)

// built are the pipeline's binaries, built once for every smoke test of
// the package: three builds of the same five programs (with the race
// detector when the tests run with it) cost minutes on a loaded machine.
var built struct {
	once sync.Once
	dir  string
	bins rig.Binaries
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// testBinaries builds the binaries on the first call and returns them.
func testBinaries(t *testing.T) rig.Binaries {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "kycflow-bench-test-"); built.err == nil {
			built.bins, built.err = rig.Build(context.Background(), rig.BuildConfig{Dir: built.dir, Race: raceEnabled})
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bins
}
