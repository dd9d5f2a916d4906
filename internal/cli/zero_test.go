package cli

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/notifier"
)

// zeroMeans are the variables of "kycflow run" whose default is a
// positive number or duration and for which 0 (or less) has a meaning of
// its own, documented in their help.
var zeroMeans = map[string]string{
	"KYCFLOW_INGEST_RATE_LIMIT":             "0: no limit",
	"KYCFLOW_ENRICHER_HEALTH_INTERVAL":      "0: never",
	"KYCFLOW_INGEST_USER_REFERENCE_MAX_AGE": "0: no age check",
}

// TestZeroIsNeverReadAsTheDefault: a variable set to 0 or to a negative
// value is refused, naming it, unless 0 has a meaning of its own
// (zeroMeans). A configuration read 0 as "not set" and ran with the
// default (KYCFLOW_NOTIFIER_ACK_WAIT=0 waited 30s, KYCFLOW_JUMIO_RATE_LIMIT=0
// limited the rate all the same).
func TestZeroIsNeverReadAsTheDefault(t *testing.T) {
	e := config.FromMap(nil)
	ingest.LoadConfig(e)
	notifier.LoadConfig(e)
	enricher.LoadConfig(e)
	checked := 0
	for _, v := range e.Vars() {
		if !positive(v.Default) {
			continue
		}
		for _, value := range []string{"0", "-" + v.Default} {
			if meaning, ok := zeroMeans[v.Key]; ok {
				if !strings.Contains(v.Help, meaning) {
					t.Errorf("%s: its help does not say what 0 means (%q): %q", v.Key, meaning, v.Help)
				}
				break
			}
			_, fs, _, err := parse([]string{"run", "--data-dir", t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{v.Key: value}
			_, err = loadRunConfig(Env{Getenv: func(k string) string { return env[k] }}, fs)
			if err == nil || !strings.Contains(err.Error(), v.Key) {
				t.Errorf("%s=%s: got %v, want an error naming it", v.Key, value, err)
			}
		}
		checked++
	}
	if checked < 30 {
		t.Errorf("checked %d variables; the configuration names more", checked)
	}
}

// positive reports whether a default is a positive number or duration.
func positive(def string) bool {
	if n, err := strconv.ParseFloat(def, 64); err == nil {
		return n > 0
	}
	if d, err := config.ParseDuration(def); err == nil {
		return d > 0
	}
	return false
}
