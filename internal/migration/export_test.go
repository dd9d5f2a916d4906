package migration

import "context"

// LeavePending leaves the scans refs of batch as a run that stopped with
// their request under way leaves them.
func LeavePending(ctx context.Context, s *Store, refs []string, batch string) error {
	if err := s.setScans(ctx, refs, batch, StateRequested, "", false); err != nil {
		return err
	}
	return s.request(ctx, refs, batch, true, false)
}
