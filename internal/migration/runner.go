package migration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Runner sends migration batches to Jumio. It is safe for concurrent use
// by batches that share no group ("kycflow migrate-data" puts each group
// in one batch).
type Runner struct {
	store *Store
	// client sends the requests; they wait in the migrate lane.
	client *jumio.Client
	// callbackURL receives the callbacks of the migrated scans (empty:
	// the Portal's).
	callbackURL string
	logger      *slog.Logger
}

// NewRunner returns a runner that records in store and sends through
// client; callbackURL is where Jumio posts the migrated scans' callbacks
// (ingest's Platform callback URL; empty: the Portal's setting).
func NewRunner(store *Store, client *jumio.Client, callbackURL string, logger *slog.Logger) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{store: store, client: client, callbackURL: callbackURL, logger: logger}
}

// Run sends the batch with id: for each group not answered yet, its scans
// are marked requested, then migrated into the group's account (a new one
// for the group's first request), in requests of at most
// wire.MaxMigrationScanReferences scans. A documented refusal marks the
// scans it names failed with its class and sends the others again
// (jumio.MigrationError: Jumio refuses the whole request); a group whose
// account Jumio does not know fails whole (MigrationAccountNotFound).
// Scans Jumio calls in progress or migrated already when the batch was
// taken up before count as requested: an earlier attempt's request got
// through, its answer was lost.
//
// Progress is saved after every group, so a run that fails part way (a
// transient Jumio or broker error, returned as it is for the caller to
// retry) repeats no group that was answered. It returns nil for a batch
// done already, and an error wrapping ErrInvalid for one that does not
// exist or cannot be read (permanent).
func (r *Runner) Run(ctx context.Context, id string) error {
	ctx = jumio.WithLane(ctx, jumio.LaneMigrate)
	b, ok, err := r.store.Batch(ctx, id)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: no batch %s", ErrInvalid, id)
	case b.State == BatchDone:
		return nil
	}
	b.Attempts++
	b.State = BatchSent
	if err := r.store.saveBatch(ctx, b); err != nil {
		return err
	}
	for i := range b.Groups {
		g := &b.Groups[i]
		if g.Done {
			continue
		}
		if err := r.group(ctx, b.ID, g); err != nil {
			if serr := r.store.saveBatch(context.WithoutCancel(ctx), b); serr != nil {
				return errors.Join(err, serr)
			}
			return err
		}
		g.Done = true
		if err := r.store.saveBatch(ctx, b); err != nil {
			return err
		}
	}
	b.State = BatchDone
	return r.store.saveBatch(ctx, b)
}

// group migrates one group's scans that are not answered yet.
func (r *Runner) group(ctx context.Context, batch string, g *Group) error {
	var refs []string
	// sent: scans an earlier attempt of this batch may have got through
	// for (Scan.Sent).
	sent := map[string]bool{}
	for _, ref := range g.ScanReferences {
		sc, ok, err := r.store.Lookup(ctx, ref)
		if err != nil {
			return err
		}
		// Answered already: migrated, or refused (or counted as
		// requested) by an earlier attempt of this batch. A scan refused
		// in another batch is one queued again on purpose.
		if ok && (sc.State == StateMigrated || sc.Batch == batch && (sc.State == StateFailed || sc.Conflict)) {
			continue
		}
		sent[ref] = ok && sc.Batch == batch && (sc.Sent || sc.Pending)
		refs = append(refs, ref)
	}
	if len(refs) == 0 {
		return nil
	}
	if g.AccountID == "" {
		acct, err := r.store.GroupAccount(ctx, g.Key)
		if err != nil {
			return err
		}
		g.AccountID = acct
	}
	// Marked before the request leaves: a callback that comes back
	// before the answer finds its scan.
	if err := r.store.setScans(ctx, refs, batch, StateRequested, "", false); err != nil {
		return err
	}
	for len(refs) > 0 {
		chunk := refs[:min(len(refs), wire.MaxMigrationScanReferences)]
		// Pending while under way: a run that stops before the answer
		// knows the request may have got through.
		if err := r.store.request(ctx, chunk, batch, true, false); err != nil {
			return err
		}
		resp, err := r.client.MigrateScans(ctx, g.AccountID, wire.MigrationRequest{ScanReferences: chunk, CallbackURL: r.callbackURL})
		var me *jumio.MigrationError
		var ae *jumio.APIError
		switch {
		case err == nil:
			if g.AccountID != resp.Account.ID {
				g.AccountID = resp.Account.ID
				if err := r.store.setGroupAccount(ctx, g.Key, g.AccountID); err != nil {
					return err
				}
			}
			refs = refs[len(chunk):]
			r.logger.DebugContext(ctx, "migration requested", "batch", batch, "account_id", g.AccountID, "scans", len(chunk))
		case errors.As(err, &me) && me.Class == jumio.MigrationAccountNotFound:
			r.logger.WarnContext(ctx, "migration refused: account not found", "batch", batch, "account_id", g.AccountID, "scans", len(refs))
			if err := r.store.setScans(ctx, refs, batch, StateFailed, me.Class, false); err != nil {
				return err
			}
			refs = nil
		case errors.As(err, &me):
			// In progress or migrated already: by this batch's own
			// earlier request, whose answer was lost, only for a scan
			// that request may have got through for.
			mine := me.Class == jumio.MigrationInProgress || me.Class == jumio.MigrationAlreadyMigrated
			var accepted, refused []string
			for _, ref := range me.ScanReferences {
				if mine && sent[ref] {
					accepted = append(accepted, ref)
				} else {
					refused = append(refused, ref)
				}
			}
			r.logger.InfoContext(ctx, "migration refused for some scans", "batch", batch, "class", string(me.Class),
				"scans", len(me.ScanReferences), "counted_as_requested", len(accepted))
			if err := r.store.setScans(ctx, refused, batch, StateFailed, me.Class, false); err != nil {
				return err
			}
			if err := r.store.setScans(ctx, accepted, batch, StateRequested, "", true); err != nil {
				return err
			}
			refs = slices.DeleteFunc(refs, func(ref string) bool { return slices.Contains(me.ScanReferences, ref) })
		case errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable || ae.Status < 500):
			// Refused whole before it was taken: nothing of this
			// request is Jumio's doing on a later attempt.
			return errors.Join(err, r.store.request(context.WithoutCancel(ctx), chunk, batch, false, false))
		default:
			// The answer is lost (a timeout, a broken connection, a
			// 5xx): the chunk may have got through.
			return errors.Join(err, r.store.request(context.WithoutCancel(ctx), chunk, batch, false, true))
		}
	}
	return nil
}
