package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/config"
)

// Every stage instance creates or updates the streams, buckets and
// durable consumers it needs when it starts, and after a deploy they all
// start at once, on a first install against a cluster that holds nothing
// yet. A clustered JetStream server answers the create of a replicated
// stream or consumer from the new asset's leader, once elected, and an
// update from the asset's leader once applied; an update that reaches an
// asset whose first leader is not elected yet is answered by no one, and
// the create it overtook is not answered either (nats-server
// processClusterUpdateStream marks the update answered on every member,
// and the elected leader then finds nothing left to answer). A repeated
// create with the same configuration is answered at once. So Ensure
// (docs/architecture.md#provisioning-at-start):
//
//   - looks first, and sends nothing when the asset exists as wanted:
//     the instances that start after the first one ask nothing;
//   - creates with a create-only request, which a concurrent creation of
//     the same asset by another instance does not silence;
//   - updates only an asset that exists with another configuration and
//     has a leader;
//   - after a request that went unanswered, or a cluster short of peers
//     or of a leader, looks again before asking anything, so that a create
//     answered too late for its request (it happened) is not asked again;
//   - stops when ctx ends, with an *EnsureError that names the asset and
//     the server's last answer.

// Ensure gives a request firstPatience for its answer, and twice as long
// after each request that went unanswered, up to maxPatience. JetStream
// answers a lookup within milliseconds, a create once the new asset's
// leader is elected (a second or a few on a loaded cluster), or never: a
// lookup of a stream whose creation is under way goes unanswered when the
// server that could answer has not applied it yet. A request cut short is
// followed by a lookup, never by the same request blindly, so a short
// patience costs nothing but a lookup.
const (
	firstPatience = time.Second
	maxPatience   = 5 * time.Second
)

// DefaultSetupTimeout is how long a stage waits for the streams, buckets
// and consumers it needs to be created or updated at start before it
// exits with an *EnsureError (Config.SetupTimeout,
// KYCFLOW_NATS_SETUP_TIMEOUT).
const DefaultSetupTimeout = time.Minute

// State is what a lookup of an asset found.
type State int

// States of an asset.
const (
	// Missing: the asset does not exist; Ensure creates it.
	Missing State = iota
	// Current: it exists as wanted, with a leader; Ensure is done.
	Current
	// Differs: it exists with another configuration and has a leader;
	// Ensure updates it.
	Differs
	// Leaderless: it exists and its leader is not elected yet (it is
	// being created, or a server restarts); Ensure waits and looks again.
	Leaderless
)

// Asset is a stream, bucket or consumer that Ensure creates or updates.
type Asset struct {
	// Kind ("stream", "bucket", "consumer") and Name name it in errors.
	Kind, Name string
	// Look finds its state. An error it returns ends Ensure unless it
	// passes (an unanswered request, a cluster short of peers or of a
	// leader).
	Look func(ctx context.Context) (State, error)
	// Create creates it with a create-only request, which fails if it
	// exists with another configuration.
	Create func(ctx context.Context) error
	// Update updates an asset that exists to the configuration wanted.
	Update func(ctx context.Context) error
}

// EnsureError is the error of Ensure when an asset is not as wanted: it
// names the asset and holds the server's last answer.
type EnsureError struct {
	// Kind and Name are the asset's (Asset.Kind, Asset.Name).
	Kind, Name string
	// Answer is the server's last answer that did not settle it (a
	// *jetstream.APIError, or ErrNoLeader when it exists without a
	// leader); nil when nothing was answered.
	Answer error
	// Err is why Ensure stopped: the context's error when time ran out,
	// or the answer itself when asking again would not change it.
	Err error
}

// ErrNoLeader is EnsureError.Answer when the asset exists but no leader
// was elected for it before time ran out.
var ErrNoLeader = errors.New("it exists, and no leader was elected for it")

func (e *EnsureError) Error() string {
	what := "broker: ensure " + e.Kind + " " + e.Name
	switch {
	case e.Answer == nil:
		return what + ": no answer from JetStream: " + e.Err.Error()
	case errors.Is(e.Err, e.Answer):
		return what + ": " + e.Answer.Error()
	default:
		return what + ": " + e.Err.Error() + "; JetStream's last answer: " + e.Answer.Error()
	}
}

// Unwrap returns Err and Answer, so that errors.Is and errors.As find
// the context's error and the server's *jetstream.APIError.
func (e *EnsureError) Unwrap() []error {
	if e.Answer == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Answer}
}

// Ensure makes a as wanted: it looks, creates what is missing, updates
// what differs, and waits for a leader, asking again until ctx ends (see
// the rules above), or DefaultSetupTimeout has passed when ctx has no
// deadline. It returns nil once a lookup finds the asset current; any
// number of clients may run it on the same asset at once. An answer that
// asking again would not change (an invalid configuration, replicas
// without a cluster) ends it at once.
func Ensure(ctx context.Context, a Asset) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSetupTimeout)
		defer cancel()
	}
	var answer error
	applied := false
	wait, patience := 100*time.Millisecond, firstPatience
	bounded := func(f func(ctx context.Context) error) error {
		actx, cancel := context.WithTimeout(ctx, patience)
		defer cancel()
		err := f(actx)
		if errors.Is(err, context.DeadlineExceeded) {
			patience = min(2*patience, maxPatience)
		}
		return err
	}
	for {
		var state State
		err := bounded(func(ctx context.Context) (err error) {
			state, err = a.Look(ctx)
			return err
		})
		// After a create or update that the server took, what still
		// differs is the server's way of writing the configuration.
		if err == nil && (state == Current || applied && state == Differs) {
			return nil
		}
		if err == nil {
			switch state {
			case Missing:
				err = bounded(a.Create)
			case Differs:
				err = bounded(a.Update)
			case Leaderless:
				err = ErrNoLeader
			}
			if err == nil && !applied {
				// Created or updated: the next lookup says whether it
				// has a leader.
				applied = true
				continue
			}
		}
		expected := passing(err) || raced(err) || errors.Is(err, ErrNoLeader)
		if err != nil && !expected && ctx.Err() == nil {
			return &EnsureError{Kind: a.Kind, Name: a.Name, Answer: err, Err: err}
		}
		if expected && !errors.Is(err, context.DeadlineExceeded) {
			answer = err
		}
		if ctx.Err() != nil {
			return &EnsureError{Kind: a.Kind, Name: a.Name, Answer: answer, Err: ctx.Err()}
		}
		select {
		case <-ctx.Done():
			return &EnsureError{Kind: a.Kind, Name: a.Name, Answer: answer, Err: ctx.Err()}
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

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

// raced reports whether err says that another client created or removed
// the asset between Ensure's lookup and its request: the next lookup
// sees what it did.
func raced(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrConsumerExists) || errors.Is(err, jetstream.ErrConsumerDoesNotExist) ||
		errors.Is(err, jetstream.ErrConsumerNotFound)
}

// led reports whether an asset with cluster info ci has a leader (an
// asset of a server without a cluster always has).
func led(ci *jetstream.ClusterInfo) bool { return ci == nil || ci.Leader != "" }

// EnsureStream creates the stream cfg describes, or updates it to cfg,
// with Ensure; it returns the stream once it exists as cfg says, with a
// leader. onExisting, when set, sees the configuration of a stream that
// exists before anything is changed, and an error it returns ends
// EnsureStream as it is.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, onExisting func(have jetstream.StreamConfig) error) (jetstream.Stream, error) {
	var s jetstream.Stream
	var refused error
	err := Ensure(ctx, Asset{
		Kind: "stream", Name: cfg.Name,
		Look: func(ctx context.Context) (State, error) {
			var err error
			s, err = js.Stream(ctx, cfg.Name)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return Missing, nil
			}
			if err != nil {
				return Missing, err
			}
			info := s.CachedInfo()
			if onExisting != nil {
				if refused = onExisting(info.Config); refused != nil {
					return Missing, refused
				}
			}
			return state(info.Cluster, len(StreamDrift(info.Config, cfg)) > 0), nil
		},
		Create: func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, cfg)
			return err
		},
		Update: func(ctx context.Context) error {
			_, err := js.UpdateStream(ctx, cfg)
			return err
		},
	})
	if refused != nil {
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// state is the State of an asset that exists.
func state(ci *jetstream.ClusterInfo, differs bool) State {
	switch {
	case differs && led(ci):
		return Differs
	case !led(ci):
		return Leaderless
	}
	return Current
}

// StreamDrift lists the settings of have that differ from want, among
// those kycflow sets on its streams; none means that an update would
// change nothing kycflow asks for. Settings want leaves zero take the
// server's default and are not compared.
func StreamDrift(have, want jetstream.StreamConfig) []string {
	d := drift{}
	d.diff("subjects", have.Subjects, want.Subjects)
	d.diff("storage", have.Storage, want.Storage)
	d.diff("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	d.diff("max age", have.MaxAge, want.MaxAge)
	d.diff("max bytes", have.MaxBytes, cmp.Or(want.MaxBytes, -1))
	d.diff("retention", have.Retention, want.Retention)
	d.diff("discard", have.Discard, want.Discard)
	d.diff("description", have.Description, want.Description)
	d.diff("direct gets", have.AllowDirect, want.AllowDirect)
	d.diff("deny delete", have.DenyDelete, want.DenyDelete)
	d.diff("deny purge", have.DenyPurge, want.DenyPurge)
	if want.Duplicates > 0 {
		d.diff("duplicate window", have.Duplicates, want.Duplicates)
	}
	return d.out
}

// bucketDrift lists the settings of have, a bucket's stream, that differ
// from want, among those kycflow sets on its buckets.
func bucketDrift(have jetstream.StreamConfig, want jetstream.KeyValueConfig) []string {
	d := drift{}
	d.diff("description", have.Description, want.Description)
	d.diff("history", have.MaxMsgsPerSubject, int64(max(want.History, 1)))
	d.diff("ttl", have.MaxAge, want.TTL)
	d.diff("storage", have.Storage, want.Storage)
	d.diff("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	d.diff("max bytes", have.MaxBytes, cmp.Or(want.MaxBytes, -1))
	d.diff("limit marker ttl", have.SubjectDeleteMarkerTTL, want.LimitMarkerTTL)
	return d.out
}

// drift collects differences, durations written as the configuration
// reads them.
type drift struct{ out []string }

func (d *drift) diff(what string, have, want any) {
	if h, ok := have.(time.Duration); ok {
		have, want = config.FormatDuration(h), config.FormatDuration(want.(time.Duration))
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		d.out = append(d.out, fmt.Sprintf("%s %v (want %v)", what, have, want))
	}
}

// EnsureKeyValue creates the bucket cfg describes, or updates it to cfg,
// with Ensure; it returns the bucket once it exists as cfg says, with a
// leader.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := Ensure(ctx, Asset{
		Kind: "bucket", Name: cfg.Bucket,
		Look: func(ctx context.Context) (State, error) {
			s, err := js.Stream(ctx, "KV_"+cfg.Bucket)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return Missing, nil
			}
			if err != nil {
				return Missing, err
			}
			info := s.CachedInfo()
			st := state(info.Cluster, len(bucketDrift(info.Config, cfg)) > 0)
			if st == Current {
				kv, err = js.KeyValue(ctx, cfg.Bucket)
			}
			return st, err
		},
		Create: func(ctx context.Context) error {
			_, err := js.CreateKeyValue(ctx, cfg)
			return err
		},
		Update: func(ctx context.Context) error {
			_, err := js.UpdateKeyValue(ctx, cfg)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	return kv, nil
}

// consumerDrift lists the settings of have that differ from want, among
// those the Subscriber sets; settings want leaves zero take the server's
// default and are not compared.
func consumerDrift(have, want jetstream.ConsumerConfig) []string {
	d := drift{}
	d.diff("description", have.Description, want.Description)
	d.diff("ack policy", have.AckPolicy, want.AckPolicy)
	d.diff("replay policy", have.ReplayPolicy, want.ReplayPolicy)
	d.diff("deliver policy", have.DeliverPolicy, want.DeliverPolicy)
	d.diff("max deliver", have.MaxDeliver, cmp.Or(want.MaxDeliver, -1))
	if want.AckWait > 0 {
		d.diff("ack wait", have.AckWait, want.AckWait)
	}
	if want.MaxAckPending > 0 {
		d.diff("max ack pending", have.MaxAckPending, want.MaxAckPending)
	}
	filters := func(c jetstream.ConsumerConfig) []string {
		if c.FilterSubject != "" {
			return []string{c.FilterSubject}
		}
		return c.FilterSubjects
	}
	d.diff("filter subjects", filters(have), filters(want))
	return d.out
}
