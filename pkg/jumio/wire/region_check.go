package wire

import (
	"errors"
	"fmt"
)

// ErrRegionMismatch is returned (wrapped) by Callback.CheckRegion when an
// href names a region other than the configured one.
var ErrRegionMismatch = errors.New("jumio: callback region does not match the configured region")

// CheckRegion cross-checks the configured region against the hosts of the
// callback's hrefs (workflowExecution.href and account.href), which name a
// region as <service>.<region>.jumio.ai. An href that names no known region
// (absent, another shape, a region Jumio adds later) is not held against
// the callback; one that names a different region is an error wrapping
// ErrRegionMismatch. The hrefs are only parsed, never followed.
func (cb *Callback) CheckRegion(configured Region) error {
	for _, h := range []string{cb.WorkflowExecution.Href, cb.Account.Href} {
		if r, ok := RegionFromHref(h); ok && r != configured {
			return fmt.Errorf("%w: href names %s, configured %s", ErrRegionMismatch, r, configured)
		}
	}
	return nil
}
