package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// Work stream: bulk Jumio work a process without the enricher's budget
// asks the enricher to do (docs/architecture.md "One budget, executed by
// the enricher"). Wire names; see each comment for what renaming does.
const (
	// StreamWork holds work items until a runner acked them (work-queue
	// retention). Renaming it strands the items queued in the old one.
	StreamWork = "JUMIO_WORK"
	// SubjectWork is its subject root: jumio.work.<lane>.<id>.
	SubjectWork = "jumio.work"
	// WorkDurable is the enricher's consumer of StreamWork; every replica
	// shares it. Renaming it leaves the queued items to a consumer that
	// no longer exists (a work-queue stream takes one consumer per
	// subject).
	WorkDurable = "enricher-work"
	// KindMigrate is the kind of a migration batch.
	KindMigrate = "migrate"
)

// WorkSubject is the subject of a work item: jumio.work.<lane>.<id>.
func WorkSubject(lane jumio.Lane, id string) string {
	return SubjectWork + "." + events.Token(string(lane)) + "." + events.Token(id)
}

// WorkItem is the body of a work item: what to do, by kind, and the
// record it concerns (a migration batch's id: the batch itself is in
// Bucket).
type WorkItem struct {
	Kind  string `json:"kind"`
	Batch string `json:"batch,omitempty"`
}

var batchIDRE = regexp.MustCompile(`^[a-f0-9]{32}$`)

// DecodeWorkItem reads a work item; errors wrap ErrInvalid and name no
// value.
func DecodeWorkItem(b []byte) (WorkItem, error) {
	var w WorkItem
	if err := json.Unmarshal(b, &w); err != nil {
		return w, fmt.Errorf("%w: work item is not JSON", ErrInvalid)
	}
	switch {
	case w.Kind != KindMigrate:
		return w, fmt.Errorf("%w: unknown work kind", ErrInvalid)
	case !batchIDRE.MatchString(w.Batch):
		return w, fmt.Errorf("%w: batch id malformed", ErrInvalid)
	}
	return w, nil
}

// WorkStreamConfig places the work stream.
type WorkStreamConfig struct {
	Storage  string
	Replicas int
	// MaxAge drops items no runner took up (default 7 days); their scans
	// stay queued and a resumed "kycflow migrate-data" queues them again.
	MaxAge time.Duration
}

// EnsureWorkStream creates the work stream, or updates it; idempotent.
func EnsureWorkStream(ctx context.Context, js jetstream.JetStream, cfg WorkStreamConfig) error {
	storage := jetstream.FileStorage
	if cfg.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	_, err := broker.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        StreamWork,
		Description: "kycflow: bulk Jumio work for the enricher (migration batches)",
		Subjects:    []string{SubjectWork + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     storage,
		Replicas:    max(1, cfg.Replicas),
		MaxAge:      cfg.MaxAge,
		Duplicates:  24 * time.Hour,
		Discard:     jetstream.DiscardNew,
	}, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBroker, err)
	}
	return nil
}

// Enqueue publishes the work item of a queued batch; the batch id is its
// message id, so queuing it again within the duplicate window stores it
// once. It returns once the stream stored it.
func Enqueue(ctx context.Context, js jetstream.JetStream, batchID string) error {
	return enqueue(ctx, js, batchID, "work-"+batchID)
}

// EnqueueAgain queues the work item of a batch that was taken up after
// attempts attempts and whose work item is gone (dead-lettered): under a
// message id of that attempt, so that two runs queueing it at once store
// one work item.
func EnqueueAgain(ctx context.Context, js jetstream.JetStream, batchID string, attempts int) error {
	return enqueue(ctx, js, batchID, "work-"+batchID+"-"+strconv.Itoa(attempts))
}

func enqueue(ctx context.Context, js jetstream.JetStream, batchID, msgID string) error {
	b, _ := json.Marshal(WorkItem{Kind: KindMigrate, Batch: batchID})
	m := nats.NewMsg(WorkSubject(jumio.LaneMigrate, batchID))
	m.Data = b
	m.Header.Set(events.HeaderMsgID, msgID)
	m.Header.Set(events.HeaderContentType, events.ContentTypeJSON)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("%w: queue batch: %w", ErrBroker, err)
	}
	return nil
}

// Queued reports whether the work item of a batch is in the work stream,
// not taken up yet (or being run).
func Queued(ctx context.Context, js jetstream.JetStream, batchID string) (bool, error) {
	st, err := js.Stream(ctx, StreamWork)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil // no enricher made it yet: nothing queued
	}
	if err != nil {
		return false, fmt.Errorf("%w: stream %s: %w", ErrBroker, StreamWork, err)
	}
	_, err = st.GetLastMsgForSubject(ctx, WorkSubject(jumio.LaneMigrate, batchID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	}
	return false, fmt.Errorf("%w: stream %s: %w", ErrBroker, StreamWork, err)
}
