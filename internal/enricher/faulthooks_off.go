//go:build !kycflow_faulthooks

package enricher

// dropForFaultTest is the test-only fault hook of faulthooks_on.go; in
// every build without the kycflow_faulthooks tag, release builds among
// them, it drops nothing and reads nothing.
func dropForFaultTest(string) bool { return false }
