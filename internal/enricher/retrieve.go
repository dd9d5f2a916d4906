package enricher

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// retrieve makes the enriched event of a callback (retrieveDocument),
// without its raw document when the configuration says so.
func (e *Enricher) retrieve(ctx context.Context, c *callback, now time.Time) (events.EnrichedEvent, error) {
	ee, err := e.retrieveDocument(ctx, c, now)
	if e.omitRaw {
		ee.Raw = nil
	}
	return ee, err
}

// retrieveDocument makes the enriched event of a callback: from the workflow
// details for Platform callbacks, from the Netverify retrieval data for
// Netverify ones when they are confirmed (Config.NetverifyConfirm), else
// from the callback itself.
// now is when the message was taken up: 404s are judged against it.
//
// A transaction kycflow erased ("kycflow erase") gives a tombstone: the
// registry's markers are read once Jumio has answered, before anything of
// it is stored, so that an erasure that marks it while Jumio answers (the
// fetch began before the mark, the publish would come after the purge)
// is seen too; a Netverify callback, whose fields are personal data
// themselves, is looked up before it is fetched or mapped as well. Jumio
// may still serve an erased transaction's data (an erasure with
// --local-only, a deletion Jumio acknowledged and has not done yet): none
// of it is stored in a result or a dead letter. An execution of an erased
// account that kycflow held nothing of is fetched: one Jumio made before
// the erasure is a tombstone, one made since (the end user verified
// again) a result of its own. A Platform callback whose details Jumio answers 404 after an
// erasure is a tombstone at once instead of retrying a 404 "not ready
// yet" for an hour and dead-lettering it. Platform details Jumio wiped
// out map to a tombstone on their own (mapping.FromPlatform).
func (e *Enricher) retrieveDocument(ctx context.Context, c *callback, now time.Time) (events.EnrichedEvent, error) {
	var (
		ee      events.EnrichedEvent
		created time.Time
		err     error
	)
	if c.ev.API == events.APIPlatform {
		ee, created, err = e.platform(ctx, c, now)
	} else {
		// The stored form is personal data itself: an erased scan's
		// callback is not held through a Jumio outage or a queue, nor
		// mapped, before it becomes a tombstone.
		execution, _, merr := e.erasures.ErasedMarkers(ctx, "", c.ev.WorkflowExecutionID)
		if merr != nil {
			return events.EnrichedEvent{}, fmt.Errorf("%w: %w", ErrBroker, merr)
		}
		if !execution.IsZero() {
			return e.tombstone(ctx, c, execution), nil
		}
		ee, err = e.netverify(ctx, c, now)
		if err == nil && ee.RawType == events.RawNetverifyCallback {
			return ee, nil // mapped from the form: nothing was fetched since the read
		}
	}
	if err != nil && ctx.Err() != nil {
		return ee, err // shutting down: taken up again, markers and all
	}
	execution, account, merr := e.erasures.ErasedMarkers(ctx, c.ev.AccountID, c.ev.WorkflowExecutionID)
	switch {
	case merr != nil && err != nil:
		// Retried as the fetch's failure says (its class, a 429's
		// Retry-After), the markers read again then; never
		// dead-lettered unread (see unreadMarkers).
		return events.EnrichedEvent{}, &unreadMarkers{fetch: err, markers: merr}
	case merr != nil:
		// Whatever was fetched is not stored unread: retried.
		return events.EnrichedEvent{}, fmt.Errorf("%w: %w", ErrBroker, merr)
	case !execution.IsZero():
		return e.tombstone(ctx, c, execution), nil
	case account.IsZero() || c.ev.API != events.APIPlatform:
	case errors.Is(err, jumio.ErrNotFound):
		// Erased with its account (before, or while it was fetched).
		return e.tombstone(ctx, c, account), nil
	case err == nil && (created.IsZero() || !created.After(account)):
		// An execution of the erased account that was there when it
		// was erased (kycflow held nothing of it then). One made since
		// (the same end user verified again) is a verification of its
		// own.
		return e.tombstone(ctx, c, account), nil
	}
	return ee, err
}

// tombstone is the tombstone of a callback whose transaction (or
// account) kycflow erased at at.
func (e *Enricher) tombstone(ctx context.Context, c *callback, at time.Time) events.EnrichedEvent {
	e.metrics.tombstones.Add(context.WithoutCancel(ctx), 1, apiAttr(c.ev.API))
	c.tombstone = true
	return enriched(mapping.Tombstone(c.ev, at, e.tables), events.RawTombstone, nil)
}

// platform fetches the workflow details, built from the callback's ids and
// the client's region (never the callback's href), and maps them.
// created is when Jumio made the execution, zero when the details do not
// say.
func (e *Enricher) platform(ctx context.Context, c *callback, now time.Time) (ee events.EnrichedEvent, created time.Time, err error) {
	if err := e.checkRegion(c.ev); err != nil {
		return events.EnrichedEvent{}, time.Time{}, err
	}
	var (
		d   *wire.WorkflowDetails
		raw []byte
	)
	err = e.fetch(ctx, jumio.EndpointWorkflowDetails, c, now, func() (err error) {
		if d, raw, err = e.jumio.WorkflowDetails(ctx, c.ev.AccountID, c.ev.WorkflowExecutionID); err != nil {
			return err
		}
		if !sameID(d.Workflow.ID, c.ev.WorkflowExecutionID) || (d.Account.ID != "" && !sameID(d.Account.ID, c.ev.AccountID)) {
			// Another execution's (or account's) details, with another
			// person's data: never this execution's result.
			return fmt.Errorf("%w: the details are not of the execution and account asked for", jumio.ErrMalformedResponse)
		}
		return final(c.ev.Status, d.Workflow.Status)
	})
	if err != nil {
		return events.EnrichedEvent{}, time.Time{}, err
	}
	return enriched(mapping.FromPlatform(c.ev, d, e.tables), events.RawPlatformDetails, raw), d.CreatedAt.Time, nil
}

// netverify maps a Netverify callback. Confirmed (the default with
// Netverify credentials), the callback only triggers: an ID-verification
// result comes from the scan's retrieval data, and a callback of a kind
// kycflow cannot retrieve (authentication, document verification) is
// mapped from its fields and never PASSED (unconfirmed). Unconfirmed by
// configuration, the callback's fields are the result.
func (e *Enricher) netverify(ctx context.Context, c *callback, now time.Time) (events.EnrichedEvent, error) {
	m, values, err := parseForm(c.ev.Form)
	if err != nil {
		return events.EnrichedEvent{}, err
	}
	// The form must read as ingest read it when it checked and stored
	// it: the kind, reference and status ingest stored the callback under.
	// (The reference in any case: one stored before references were read
	// in lower case keeps the spelling it came in.)
	if m.Kind != c.ev.Kind || !strings.EqualFold(m.Reference(), c.ev.WorkflowExecutionID) || m.Status() != c.ev.Status {
		return events.EnrichedEvent{}, permanent(fmt.Errorf("%w: the form does not read as the stored event's kind, reference and status", ErrInvalidCallback))
	}
	if e.confirm && m.ID != nil {
		return e.confirmScan(ctx, c, now)
	}
	raw, err := formJSON(values)
	if err != nil {
		return events.EnrichedEvent{}, permanent(fmt.Errorf("enricher: encode the callback fields: %w", err))
	}
	r := mapping.FromNetverify(c.ev, m, e.tables)
	if e.confirm {
		unconfirmed(&r)
	}
	return enriched(r, events.RawNetverifyCallback, raw), nil
}

// Capability result of a Netverify callback that retrieval could not
// confirm (unconfirmed).
const (
	capConfirmation  = "confirmation"
	labelUnconfirmed = "UNCONFIRMED"
)

// unconfirmed marks the result of a Netverify callback that retrieval
// cannot confirm, mapped from the callback's own fields (which any Jumio
// customer can send): a capability result confirmation (WARNING,
// UNCONFIRMED) among the reasons, and a PASSED decision becomes WARNING
// with label UNCONFIRMED, a manual review. REJECTED and NOT_EXECUTED
// stay: a forged refusal opens nothing.
func unconfirmed(r *events.Result) {
	c := events.Capability{Name: capConfirmation, Decision: events.DecisionWarning, Label: labelUnconfirmed}
	r.Capabilities = append(r.Capabilities, c)
	// Reasons are ordered most severe first: after the REJECTED and
	// WARNING ones, before NOT_EXECUTED.
	i := 0
	for i < len(r.Reasons) && r.Reasons[i].Decision != events.DecisionNotExecuted {
		i++
	}
	r.Reasons = slices.Insert(r.Reasons, i, events.Reason{Capability: c.Name, Decision: c.Decision, Label: c.Label})
	if r.Decision.Type == events.DecisionPassed {
		r.Decision.Type, r.Decision.Label = events.DecisionWarning, labelUnconfirmed
	}
}

// confirmScan maps an ID-verification callback from its scan's retrieval
// data once the scan has ended.
//
// Jumio calls back when a scan has ended, so on a callback's first
// delivery the data is asked for at once and mapped when its transaction
// status says the scan ended (DONE or FAILED): one request per result,
// where asking for the status first cost a second request, and Jumio's
// latency twice, on every Netverify result. Data without that status
// (PENDING, or none that reads) is not mapped: the scan status is polled
// until it is no longer PENDING (as redeliveries on the not-ready
// schedule), then the data fetched, as Jumio's Netverify retrieval guide
// recommends; every later delivery does that from the start.
func (e *Enricher) confirmScan(ctx context.Context, c *callback, now time.Time) (events.EnrichedEvent, error) {
	if err := e.checkRegion(c.ev); err != nil {
		return events.EnrichedEvent{}, err
	}
	if c.attempt <= 1 {
		data, raw, err := e.scanData(ctx, c, now)
		if err != nil {
			return events.EnrichedEvent{}, err
		}
		if data.Ended() {
			return enriched(mapping.FromNetverifyData(c.ev, data, e.tables), events.RawNetverifyData, raw), nil
		}
	}
	err := e.fetch(ctx, jumio.EndpointNetverifyScan, c, now, func() error {
		scan, err := e.jumio.NetverifyScan(ctx, c.ev.WorkflowExecutionID)
		if err == nil && strings.EqualFold(scan.Status, wire.ScanPending) {
			err = fmt.Errorf("%w: Netverify scan PENDING", ErrNotFinal)
		}
		return err
	})
	if err != nil {
		return events.EnrichedEvent{}, err
	}
	data, raw, err := e.scanData(ctx, c, now)
	if err != nil {
		return events.EnrichedEvent{}, err
	}
	if data.Pending() {
		// The data lags the scan status: not mapped as a result that
		// has not ended (Jumio calls back once), asked for again later.
		return events.EnrichedEvent{}, fmt.Errorf("%w: Netverify data PENDING after the scan ended", ErrNotFinal)
	}
	return enriched(mapping.FromNetverifyData(c.ev, data, e.tables), events.RawNetverifyData, raw), nil
}

// scanData fetches the retrieval data of the callback's scan.
func (e *Enricher) scanData(ctx context.Context, c *callback, now time.Time) (data *wire.NetverifyData, raw []byte, err error) {
	err = e.fetch(ctx, jumio.EndpointNetverifyData, c, now, func() (err error) {
		if data, raw, err = e.jumio.NetverifyData(ctx, c.ev.WorkflowExecutionID); err != nil {
			return err
		}
		if !sameID(string(data.ScanReference), c.ev.WorkflowExecutionID) {
			// Another scan's data: never this scan's result.
			return fmt.Errorf("%w: the data is not of the scan asked for", jumio.ErrMalformedResponse)
		}
		return nil
	})
	return data, raw, err
}

// sameID reports whether id, as Jumio's answer gives it, is want (ids
// are UUIDs, compared in any case).
func sameID(id, want string) bool {
	return strings.EqualFold(strings.TrimSpace(id), want)
}

// enriched is the enriched event of result r made from the raw document
// raw of type rawType.
func enriched(r events.Result, rawType string, raw []byte) events.EnrichedEvent {
	return events.EnrichedEvent{SchemaVersion: events.ResultSchemaVersion, Result: r, RawType: rawType, Raw: raw}
}

// fetch makes one retrieval call: a 404 that comes soon enough after the
// callback is not ready yet (jumio.NotReadyIfRecent, judged at now), and
// the outcome and time are counted.
//
// While Jumio reports retrieval DOWN it first waits for it to come back
// (healthWatch): the callback stays in progress, spending no delivery.
func (e *Enricher) fetch(ctx context.Context, ep jumio.Endpoint, c *callback, now time.Time, call func() error) error {
	if err := e.health.wait(ctx); err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	start := time.Now()
	err := jumio.NotReadyIfRecent(call(), c.since, now, e.policy.notReadyWindow())
	e.metrics.fetch(ctx, ep, err, time.Since(start))
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	return nil
}

// checkRegion refuses (wire.ErrRegionMismatch, permanent) a callback that
// names another region than the client's: its data lives in another data
// center, which this client has neither the URLs nor the credentials for.
// Ingest and enricher read the same KYCFLOW_JUMIO_REGION, so this is a
// configuration error; redrive the dead letters once it is fixed.
func (e *Enricher) checkRegion(ev events.CallbackEvent) error {
	if ev.Region == "" || ev.Region == string(e.region) {
		return nil
	}
	r, err := wire.ParseRegion(ev.Region)
	if err == nil && r == e.region {
		return nil
	}
	name := "an unknown region"
	if err == nil {
		name = string(r)
	}
	return permanent(fmt.Errorf("enricher: %w: callback from %s, the Jumio client serves %s", wire.ErrRegionMismatch, name, e.region))
}

var wordRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// final checks that workflow details are final for a callback of status
// callbackStatus: a callback reports a workflow that has ended, so details
// still INITIATED or ACQUIRED are Jumio's processing lagging behind its
// callback, and they are fetched again later (ErrNotFinal).
func final(callbackStatus, detailsStatus string) error {
	pending := func(s string) bool {
		// As the mapping reads it: trimmed, in any case.
		s = strings.ToUpper(strings.TrimSpace(s))
		return s == string(events.StatusInitiated) || s == string(events.StatusAcquired)
	}
	if !pending(detailsStatus) || pending(callbackStatus) {
		return nil
	}
	cs := callbackStatus
	if !wordRE.MatchString(cs) {
		cs = "final"
	}
	return fmt.Errorf("%w: workflow details %s after a %s callback", ErrNotFinal, strings.ToUpper(strings.TrimSpace(detailsStatus)), cs)
}
