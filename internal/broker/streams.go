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
		CallbacksMaxAge:  Retention(e, "KYCFLOW_STREAM_CALLBACKS_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_CALLBACKS"),
		EnrichedMaxAge:   Retention(e, "KYCFLOW_STREAM_ENRICHED_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_ENRICHED"),
		ResultsMaxAge:    Retention(e, "KYCFLOW_STREAM_RESULTS_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_RESULTS"),
		DLQMaxAge:        Retention(e, "KYCFLOW_STREAM_DLQ_MAX_AGE", 90*24*time.Hour, "retention of JUMIO_DLQ"),
		ExecutionsMaxAge: Retention(e, "KYCFLOW_STREAM_EXECUTIONS_MAX_AGE", 30*24*time.Hour, "retention of JUMIO_EXECUTIONS"),
		DuplicateWindow:  e.PositiveDuration("KYCFLOW_STREAM_DUPLICATE_WINDOW", 24*time.Hour, "JetStream duplicate window (repeated callbacks inside it are stored once)"),
		MaxBytes:         e.Int64("KYCFLOW_STREAM_MAX_BYTES", -1, "size cap of each stream in bytes, -1 for none; a full stream refuses new messages (ingest answers 503, stages retry) and never drops unprocessed ones"),
	}
}

// Retention reads a stream's max age, which must be positive: JetStream
// reads 0 as no limit, and the streams hold personal data that must
// expire.
func Retention(e *config.Env, key string, def time.Duration, help string) time.Duration {
	d := e.Duration(key, def, help)
	if d <= 0 {
		e.Invalid(key, "want a positive duration, such as 30d: the stream's messages would never expire")
		return def
	}
	return d
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
// exist, with EnsureStream. It is idempotent and safe to run from every
// service at start, all at once; it returns once every stream is as cfg
// says, with a leader, or when ctx ends, with an *EnsureError naming the
// stream and what JetStream last answered.
// Settings the server cannot take come back as a *config.Error naming the
// variable and what to do: a storage change on a stream that exists
// (ErrStorageChange), replicas on a server without a cluster
// (ErrReplicasNotClustered).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	for _, sc := range cfg.StreamConfigs() {
		// A stream that exists keeps its storage: say so before the
		// server refuses the update.
		_, err := EnsureStream(ctx, js, sc, func(have jetstream.StreamConfig) error {
			if have.Storage == sc.Storage {
				return nil
			}
			h := strings.ToLower(have.Storage.String())
			return &config.Error{Problems: []*config.Problem{{
				Key: "KYCFLOW_STREAM_STORAGE", Value: cfg.Storage,
				Err: fmt.Errorf("%w: %s exists with %s storage. Set KYCFLOW_STREAM_STORAGE=%s again; to change it, "+
					"let the stages drain, then delete the streams (their messages with them: nats stream rm) and start again "+
					"(kycflow run: start with another --data-dir)", ErrStorageChange, sc.Name, h, h),
			}}}
		})
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsReplicasNotSupported {
			return &config.Error{Problems: []*config.Problem{{
				Key: "KYCFLOW_STREAM_REPLICAS", Value: strconv.Itoa(sc.Replicas),
				Err: fmt.Errorf("%w: want 1, or a cluster of at least %d servers", ErrReplicasNotClustered, sc.Replicas),
			}}}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// StreamNames are the streams.
var StreamNames = []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ, events.StreamExecutions}

// DeleteMsg deletes the message at seq of st and reports whether this
// call deleted it: false, without an error, when it was gone already
// (deleted or purged by another). JetStream answers the deletion of a
// message that is gone with an error of its own, not ErrMsgNotFound, so
// the message is looked up to tell.
func DeleteMsg(ctx context.Context, st jetstream.Stream, seq uint64) (bool, error) {
	err := st.DeleteMsg(ctx, seq)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if _, gerr := st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return false, err
}
