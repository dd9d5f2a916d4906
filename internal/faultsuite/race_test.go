//go:build race

package faultsuite

// raceEnabled builds the binaries with the race detector when the suite
// runs with it.
const raceEnabled = true
