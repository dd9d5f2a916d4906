package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/events"
)

// StreamsConfig sets storage, replicas, retention and duplicate window of
// the streams.
type StreamsConfig struct {
	// Storage is "file" or "memory".
	Storage string
	// Replicas is 1 for a single server, 3 for a production cluster.
	Replicas int
	// MaxAge of each stream's messages.
	CallbacksMaxAge time.Duration
	EnrichedMaxAge  time.Duration
	ResultsMaxAge   time.Duration
	DLQMaxAge       time.Duration
	// ExecutionsMaxAge is the retention of JUMIO_EXECUTIONS (initiated
	// executions, read by the reconciler into its bucket).
	ExecutionsMaxAge time.Duration
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id; a
	// repeated Jumio callback inside it is stored once.
	DuplicateWindow time.Duration
	// MaxBytes caps each stream's size (-1 unlimited).
	MaxBytes int64
}

// LoadStreamsConfig reads the stream variables.
func LoadStreamsConfig(e *config.Env) StreamsConfig {
	return StreamsConfig{
		Storage:          e.Enum("KYCFLOW_STREAM_STORAGE", "file", "JetStream storage of the streams", "file", "memory"),
		Replicas:         e.IntRange("KYCFLOW_STREAM_REPLICAS", 1, 1, 5, "stream replicas (3 on a production cluster)"),
		CallbacksMaxAge:  e.Duration("KYCFLOW_STREAM_CALLBACKS_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_CALLBACKS"),
		EnrichedMaxAge:   e.Duration("KYCFLOW_STREAM_ENRICHED_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_ENRICHED"),
		ResultsMaxAge:    e.Duration("KYCFLOW_STREAM_RESULTS_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_RESULTS"),
		DLQMaxAge:        e.Duration("KYCFLOW_STREAM_DLQ_MAX_AGE", 90*24*time.Hour, "retention of JUMIO_DLQ"),
		ExecutionsMaxAge: e.Duration("KYCFLOW_STREAM_EXECUTIONS_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_EXECUTIONS"),
		DuplicateWindow:  e.Duration("KYCFLOW_STREAM_DUPLICATE_WINDOW", 24*time.Hour, "JetStream duplicate window (repeated callbacks inside it are stored once)"),
		MaxBytes:         e.Int64("KYCFLOW_STREAM_MAX_BYTES", -1, "size cap of each stream in bytes, -1 for none; a full stream refuses new messages (ingest answers 503, stages retry) and never drops unprocessed ones"),
	}
}

// DefaultStreamsConfig is the configuration LoadStreamsConfig gives with no
// variables set.
func DefaultStreamsConfig() StreamsConfig {
	return LoadStreamsConfig(config.FromMap(nil))
}

// StreamConfigs returns the JetStream configuration of the streams.
func (c StreamsConfig) StreamConfigs() []jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if c.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	replicas := max(c.Replicas, 1)
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	mk := func(name, root, desc string, age time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{root + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     storage,
			Replicas:    replicas,
			MaxAge:      age,
			MaxBytes:    maxBytes,
			Duplicates:  c.DuplicateWindow,
			// A stream at its size cap refuses new messages rather than
			// dropping old ones that a stage may not have processed yet:
			// ingest answers 503 and the stages redeliver until there is
			// room. Only MaxAge and erasure remove messages.
			Discard: jetstream.DiscardNew,
			// Direct gets let the operator commands read single
			// messages from any replica.
			AllowDirect: true,
		}
	}
	return []jetstream.StreamConfig{
		mk(events.StreamCallbacks, events.SubjectCallbacks, "Jumio callbacks as received", c.CallbacksMaxAge),
		mk(events.StreamEnriched, events.SubjectEnriched, "normalized results and raw Jumio documents", c.EnrichedMaxAge),
		mk(events.StreamResults, events.SubjectResults, "results for downstream services", c.ResultsMaxAge),
		mk(events.StreamDLQ, events.SubjectDLQ, "dead letters: payload and error headers", c.DLQMaxAge),
		mk(events.StreamExecutions, events.SubjectExecutions, "workflow executions announced as initiated, for reconciliation", cmp.Or(c.ExecutionsMaxAge, 30*24*time.Hour)),
	}
}

// Errors of EnsureStreams, each inside a *config.Error that names the
// variable to change.
var (
	// ErrStorageChange: a stream exists with another storage than
	// KYCFLOW_STREAM_STORAGE, which JetStream cannot change.
	ErrStorageChange = errors.New("JetStream cannot change the storage of a stream that exists")
	// ErrReplicasNotClustered: KYCFLOW_STREAM_REPLICAS is above 1 and the
	// server is not part of a JetStream cluster.
	ErrReplicasNotClustered = errors.New("the NATS server is not part of a JetStream cluster")
)

// jsReplicasNotSupported is the JetStream error code of "replicas > 1 not
// supported in non-clustered mode".
const jsReplicasNotSupported jetstream.ErrorCode = 10074

// EnsureStreams creates the streams, or updates them to cfg when they
// exist. It is idempotent and safe to run from every service at start,
// all at once (RetryUnanswered).
// Settings the server cannot take come back as a *config.Error naming the
// variable and what to do: a storage change on a stream that exists
// (ErrStorageChange), replicas on a server without a cluster
// (ErrReplicasNotClustered).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	for _, sc := range cfg.StreamConfigs() {
		// A stream that exists keeps its storage: say so before the
		// server refuses the update. (A lookup that fails is left to the
		// create or update to report.)
		var s jetstream.Stream
		err := RetryUnanswered(ctx, func(ctx context.Context) (err error) {
			s, err = js.Stream(ctx, sc.Name)
			return err
		})
		if err == nil {
			if h := s.CachedInfo().Config.Storage; h != sc.Storage {
				have := strings.ToLower(h.String())
				return &config.Error{Problems: []*config.Problem{{
					Key: "KYCFLOW_STREAM_STORAGE", Value: cfg.Storage,
					Err: fmt.Errorf("%w: %s exists with %s storage. Set KYCFLOW_STREAM_STORAGE=%s again; to change it, "+
						"let the stages drain, then delete the streams (their messages with them: nats stream rm) and start again "+
						"(kycflow run: start with another --data-dir)", ErrStorageChange, sc.Name, have, have),
				}}}
			}
		}
		err = RetryUnanswered(ctx, func(ctx context.Context) error {
			_, err := js.CreateOrUpdateStream(ctx, sc)
			return err
		})
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsReplicasNotSupported {
			return &config.Error{Problems: []*config.Problem{{
				Key: "KYCFLOW_STREAM_REPLICAS", Value: strconv.Itoa(sc.Replicas),
				Err: fmt.Errorf("%w: want 1, or a cluster of at least %d servers", ErrReplicasNotClustered, sc.Replicas),
			}}}
		}
		if err != nil {
			return fmt.Errorf("broker: ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// unansweredAfter bounds one attempt of RetryUnanswered: JetStream answers
// a create or update within milliseconds, or not at all.
const unansweredAfter = 5 * time.Second

// Cluster errors that pass: a server restarting or a leader being elected
// (a rolling restart, a pod rescheduled) leaves too few peers, or no
// leader, for a few seconds.
const (
	jsClusterNoPeers   jetstream.ErrorCode = 10005 // no suitable peers for placement
	jsClusterNotAvail  jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
	jsClusterNotLeader jetstream.ErrorCode = 10009 // JetStream cluster can not handle request
)

// passing reports whether err goes away when asked again: the request went
// unanswered, or the cluster lacks peers or a leader for the moment.
func passing(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jsClusterNoPeers, jsClusterNotAvail, jsClusterNotLeader:
			return true
		}
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// RetryUnanswered runs call, a JetStream API request that creates or
// updates a stream, consumer or bucket idempotently, and asks again each
// time it goes unanswered for a few seconds, until ctx ends. On a cluster
// a create or update that races another client's creation of the same
// stream can go unanswered for good (every stage's instances start at
// once after a deploy); asked again, it is answered at once. A cluster
// short of peers or of a leader for the moment (a server restarting, an
// election) is asked again too. Other errors are returned as they are.
func RetryUnanswered(ctx context.Context, call func(ctx context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, unansweredAfter)
		err := call(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !passing(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// StreamNames are the streams.
var StreamNames = []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ, events.StreamExecutions}
