//go:build race

package bench

// raceEnabled builds the pipeline's binaries with the race detector when
// the tests run with it (the build cache then has their packages).
const raceEnabled = true
