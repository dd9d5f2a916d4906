//go:build race

package wire

// raceEnabled skips the allocation counts, which the race detector
// changes.
const raceEnabled = true
