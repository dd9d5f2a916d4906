package rig

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
)

// Stages an operation is attributed to.
const (
	StageIngest   = "ingest"
	StageEnricher = "enricher"
	StageNotifier = "notifier"
	// StageReconciler is the reconciler, which runs in the enricher's
	// process: its consumer of JUMIO_CALLBACKS and JUMIO_EXECUTIONS and
	// its bucket.
	StageReconciler = "reconciler"
	// StageOther is what no stage of the pipeline can be named for.
	StageOther = "other"
)

// Stages are the stages in pipeline order, StageOther last.
var Stages = []string{StageIngest, StageEnricher, StageReconciler, StageNotifier, StageOther}

// CountedStreams are the streams whose stored messages the count reads:
// the pipeline's streams and every bucket a stage writes.
var CountedStreams = append(slices.Clone(ClusterStreams),
	"KV_"+reconcile.Bucket, "KV_"+migration.Bucket, "KV_"+erasure.Bucket, events.StreamExecutions)

// rigInboxPrefix is the inbox prefix of the rig's own connection: the tap
// leaves out the rig's requests (its polls of consumer and stream
// information) by their reply subjects.
const rigInboxPrefix = "_INBOX_kycflow_rig"

// Ops are the messages one stage sent to the JetStream server, by kind, as
// a tap on the account's request subjects sees them. Every request is one
// of the kinds; Answered are those with a reply subject (the server sends
// an answer back: a PubAck, a value, a confirmed ack).
type Ops struct {
	// Publishes are messages to the pipeline's streams (jumio.…), dead
	// letters included.
	Publishes int `json:"publishes"`
	// KVWrites are puts, creates and compare-and-set updates of a
	// key-value bucket ($KV.<bucket>.<key>), whether stored or refused.
	KVWrites int `json:"kvWrites"`
	// KVReads are gets of a bucket's key (direct or message gets on its
	// KV_<bucket> stream).
	KVReads int `json:"kvReads"`
	// Acks are settlements of a delivered message ($JS.ACK…: ack, nak,
	// term); Progress the in-progress notes (+WPI) that keep one alive.
	Acks     int `json:"acks"`
	Progress int `json:"progress"`
	// Pulls are pull requests ($JS.API.CONSUMER.MSG.NEXT).
	Pulls int `json:"pulls"`
	// API are the other JetStream API requests.
	API int `json:"api"`
	// Answered are the requests above that name a reply subject.
	Answered int `json:"answered"`
}

// Requests is every message of o.
func (o Ops) Requests() int {
	return o.Publishes + o.KVWrites + o.KVReads + o.Acks + o.Progress + o.Pulls + o.API
}

func (o *Ops) add(p Ops) {
	o.Publishes += p.Publishes
	o.KVWrites += p.KVWrites
	o.KVReads += p.KVReads
	o.Acks += p.Acks
	o.Progress += p.Progress
	o.Pulls += p.Pulls
	o.API += p.API
	o.Answered += p.Answered
}

// tapSubjects are the subjects every request to JetStream goes to: the
// API (pull requests and direct gets included), acks, key-value writes,
// and the pipeline's streams. Replies (inboxes) are not tapped.
var tapSubjects = []string{"$JS.API.>", "$JS.ACK.>", "$KV.>", events.SubjectCallbacks + ".>", events.SubjectEnriched + ".>", events.SubjectResults + ".>", events.SubjectDLQ + ".>"}

// Tap counts the requests the stages send to JetStream, by stage and kind,
// from a subscription on the subjects they go to (tapSubjects). The server
// delivers every such message to the tap as well, so a tap costs the
// server a little: keep it out of timed measurements.
type Tap struct {
	nc   *nats.Conn
	subs []*nats.Subscription

	mu     sync.Mutex
	ops    map[string]*Ops
	rigAPI int
}

// StartTap starts counting. Stop it.
func (p *Pipeline) StartTap(ctx context.Context) (*Tap, error) {
	t := &Tap{nc: p.nc, ops: map[string]*Ops{}}
	for _, s := range Stages {
		t.ops[s] = &Ops{}
	}
	for _, subj := range tapSubjects {
		sub, err := p.nc.Subscribe(subj, t.count)
		if err != nil {
			t.unsubscribe()
			return nil, fmt.Errorf("rig: tap: %w", err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		t.subs = append(t.subs, sub)
	}
	// The subscriptions are in place on the server before anything is
	// counted.
	if err := p.nc.FlushWithContext(ctx); err != nil {
		t.unsubscribe()
		return nil, fmt.Errorf("rig: tap: %w", err)
	}
	return t, nil
}

func (t *Tap) unsubscribe() {
	for _, s := range t.subs {
		_ = s.Unsubscribe()
	}
}

// count classifies one tapped message.
func (t *Tap) count(m *nats.Msg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if strings.HasPrefix(m.Reply, rigInboxPrefix) {
		if strings.HasPrefix(m.Subject, "$JS.API.") {
			t.rigAPI++
		}
		return
	}
	stage, op := classify(m.Subject, m.Data)
	if m.Reply != "" {
		op.Answered = 1
	}
	t.ops[stage].add(op)
}

// Stop ends the tap once the rig's connection has delivered what the
// server sent it, and returns the counts by stage.
func (t *Tap) Stop(ctx context.Context) (map[string]Ops, error) {
	err := t.nc.FlushWithContext(ctx)
	t.unsubscribe()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]Ops{}
	for s, o := range t.ops {
		out[s] = *o
	}
	return out, err
}

// classify attributes a request to a stage, by its subject: the streams
// each stage writes, the buckets each stage keeps, the consumers each
// stage reads.
func classify(subject string, data []byte) (string, Ops) {
	tok := strings.Split(subject, ".")
	switch {
	case strings.HasPrefix(subject, "$JS.ACK."):
		stage := StageOther
		// $JS.ACK.<stream>.<consumer>.… or, with a domain and an account
		// hash, $JS.ACK.<domain>.<hash>.<stream>.<consumer>.…
		for i := 2; i+1 < len(tok) && i <= 4; i += 2 {
			if s := consumerStage(tok[i], tok[i+1]); s != StageOther {
				stage = s
				break
			}
		}
		if string(data) == "+WPI" {
			return stage, Ops{Progress: 1}
		}
		return stage, Ops{Acks: 1}
	case strings.HasPrefix(subject, "$KV.") && len(tok) > 2:
		return bucketStage(tok[1]), Ops{KVWrites: 1}
	case strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT.") && len(tok) >= 7:
		return consumerStage(tok[5], tok[6]), Ops{Pulls: 1}
	case strings.HasPrefix(subject, "$JS.API.DIRECT.GET.") && len(tok) >= 5,
		strings.HasPrefix(subject, "$JS.API.STREAM.MSG.GET.") && len(tok) >= 6:
		stream := tok[4]
		if tok[2] == "STREAM" {
			stream = tok[5]
		}
		if b, ok := strings.CutPrefix(stream, "KV_"); ok {
			return bucketStage(b), Ops{KVReads: 1}
		}
		return StageOther, Ops{API: 1}
	case strings.HasPrefix(subject, "$JS.API."):
		// $JS.API.CONSUMER.<op>.<stream>.<consumer>: the consumer's stage.
		if len(tok) >= 6 && tok[2] == "CONSUMER" {
			return consumerStage(tok[4], tok[5]), Ops{API: 1}
		}
		return StageOther, Ops{API: 1}
	}
	return subjectStage(subject), Ops{Publishes: 1}
}

// subjectStage is the stage that publishes to a stream subject.
func subjectStage(subject string) string {
	switch {
	case strings.HasPrefix(subject, events.SubjectCallbacks+"."):
		return StageIngest
	case strings.HasPrefix(subject, events.SubjectEnriched+"."),
		strings.HasPrefix(subject, events.SubjectDLQ+"."+string(events.StageEnrich)+"."):
		return StageEnricher
	case strings.HasPrefix(subject, events.SubjectResults+"."),
		strings.HasPrefix(subject, events.SubjectDLQ+"."+string(events.StageNotify)+"-"):
		return StageNotifier
	}
	return StageOther
}

// consumerStage is the stage that reads through a durable consumer.
func consumerStage(stream, durable string) string {
	switch {
	case stream == events.StreamCallbacks && durable == enricher.Durable:
		return StageEnricher
	case stream == events.StreamEnriched && strings.HasPrefix(durable, notifier.DurablePrefix):
		return StageNotifier
	case (stream == events.StreamCallbacks || stream == events.StreamExecutions) && durable == reconcile.Durable:
		return StageReconciler
	}
	return StageOther
}

// bucketStage is the stage that keeps a key-value bucket.
func bucketStage(bucket string) string {
	switch bucket {
	case enricher.StateBucket:
		return StageEnricher
	case notifier.DeliveriesBucket:
		return StageNotifier
	case reconcile.Bucket:
		return StageReconciler
	case migration.Bucket, erasure.Bucket:
		// The enricher looks up every Platform callback's execution in
		// the migration (its lane) and every Netverify callback's scan in
		// the erasures; migrate-data and erase write them.
		return StageEnricher
	}
	return StageOther
}

// streamStage is the stage that writes a stream ("" for JUMIO_DLQ, which
// every stage writes).
func streamStage(stream string) string {
	switch stream {
	case events.StreamCallbacks:
		return StageIngest
	case events.StreamEnriched, "KV_" + enricher.StateBucket:
		return StageEnricher
	case events.StreamResults, "KV_" + notifier.DeliveriesBucket:
		return StageNotifier
	case "KV_" + reconcile.Bucket:
		return StageReconciler
	case "KV_" + migration.Bucket, "KV_" + erasure.Bucket:
		return StageEnricher
	}
	return ""
}

// StreamFigures are the server's figures of one stream.
type StreamFigures struct {
	// LastSeq is the stream's last sequence: every message it ever
	// stored.
	LastSeq uint64 `json:"lastSeq"`
	// Replicas and File say how many servers store each message and
	// whether on disk.
	Replicas int  `json:"replicas"`
	File     bool `json:"file"`
}

// ServerFigures are the server's own statistics that the tap cannot see:
// what the streams stored, the JetStream API requests it counted, and the
// subscriptions it created.
type ServerFigures struct {
	Streams map[string]StreamFigures
	// API is the account's JetStream API request count (its "api total"),
	// and RigAPI the rig's own requests among them that the tap saw, when
	// one runs.
	API    uint64
	RigAPI int
	// SubInserts are the subscriptions the servers' sublists inserted,
	// summed over the servers; -1 when no monitoring endpoint is
	// reachable ("kycflow run").
	SubInserts int64
}

// ServerFigures reads the figures. The stream and account information
// requests it makes are the rig's own: tap, when not nil, counts them.
func (p *Pipeline) ServerFigures(ctx context.Context, tap *Tap) (ServerFigures, error) {
	f := ServerFigures{Streams: map[string]StreamFigures{}, SubInserts: -1}
	for _, name := range CountedStreams {
		info, err := streamInfo(ctx, p.js, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return f, fmt.Errorf("rig: stream %s: %w", name, err)
		}
		f.Streams[name] = StreamFigures{LastSeq: info.State.LastSeq, Replicas: max(1, info.Config.Replicas), File: info.Config.Storage == jetstream.FileStorage}
	}
	var servers []*NATSServer
	switch {
	case p.nats != nil:
		servers = []*NATSServer{p.nats}
	case p.cluster != nil:
		servers = p.cluster.Servers()
	}
	for i, s := range servers {
		var sz struct {
			Inserts int64 `json:"num_inserts"`
		}
		if _, err := s.monitorJSON(ctx, "/subsz", &sz); err != nil {
			return f, err
		}
		if i == 0 {
			f.SubInserts = 0
		}
		f.SubInserts += sz.Inserts
	}
	ai, err := p.js.AccountInfo(ctx)
	if err != nil {
		return f, fmt.Errorf("rig: account info: %w", err)
	}
	f.API = ai.API.Total
	if tap != nil {
		// Everything the server sent before the answer to a ping has
		// reached the tap: the account information request among it.
		if err := p.nc.FlushWithContext(ctx); err != nil {
			return f, fmt.Errorf("rig: tap: %w", err)
		}
		tap.mu.Lock()
		f.RigAPI = tap.rigAPI
		tap.mu.Unlock()
	}
	return f, nil
}

// OpsCount is what the stages cost JetStream over a number of results: the
// tap's counts and the server's figures, per result.
type OpsCount struct {
	// Results are the callbacks the figures are divided by: each is
	// enriched once and delivered once to every route.
	Results int `json:"results"`
	// Stages are the per-result figures of each stage, and a total.
	Stages []StageOps `json:"stages"`
	// Stored are the messages each stream stored, per result.
	Stored map[string]float64 `json:"storedPerResult"`
	// API is the server's count of JetStream API requests per result,
	// the rig's own left out.
	API float64 `json:"apiPerResult"`
	// Subscriptions are the subscriptions the servers created per result
	// (nil: no monitoring endpoint).
	Subscriptions *float64 `json:"subscriptionsPerResult,omitempty"`
	// SyncAlways says whether every stored message is an fsync.
	SyncAlways bool `json:"syncAlways"`
}

// StageOps are one stage's JetStream operations per result.
type StageOps struct {
	Stage     string  `json:"stage"`
	Requests  float64 `json:"requests"`
	Answered  float64 `json:"answered"`
	Publishes float64 `json:"publishes"`
	KVWrites  float64 `json:"kvWrites"`
	KVReads   float64 `json:"kvReads"`
	Acks      float64 `json:"acks"`
	Progress  float64 `json:"progress"`
	Pulls     float64 `json:"pulls"`
	API       float64 `json:"api"`
	// Stored are the messages the streams the stage writes stored;
	// FsyncWrites those times their replicas when every write is synced
	// (file storage, sync_interval: always), else 0.
	Stored      float64 `json:"stored"`
	FsyncWrites float64 `json:"fsyncWrites"`
}

// NewOpsCount divides what a tap saw and the server's figures before and
// after (read with the tap running) by results. syncAlways says whether
// the servers sync every write.
func NewOpsCount(results int, ops map[string]Ops, before, after ServerFigures, syncAlways bool) *OpsCount {
	if results <= 0 {
		return nil
	}
	n := float64(results)
	c := &OpsCount{Results: results, Stored: map[string]float64{}, SyncAlways: syncAlways}
	stored := map[string]float64{}
	fsyncs := map[string]float64{}
	for name, a := range after.Streams {
		d := float64(a.LastSeq - before.Streams[name].LastSeq)
		c.Stored[name] = d / n
		stage := streamStage(name)
		if stage == "" {
			stage = StageOther
		}
		stored[stage] += d / n
		if syncAlways && a.File {
			fsyncs[stage] += d * float64(a.Replicas) / n
		}
	}
	total := StageOps{Stage: "total"}
	for _, s := range Stages {
		o := ops[s]
		so := StageOps{
			Stage: s, Requests: float64(o.Requests()) / n, Answered: float64(o.Answered) / n,
			Publishes: float64(o.Publishes) / n, KVWrites: float64(o.KVWrites) / n, KVReads: float64(o.KVReads) / n,
			Acks: float64(o.Acks) / n, Progress: float64(o.Progress) / n, Pulls: float64(o.Pulls) / n, API: float64(o.API) / n,
			Stored: stored[s], FsyncWrites: fsyncs[s],
		}
		if (s == StageOther || s == StageReconciler) && so == (StageOps{Stage: s}) {
			continue
		}
		c.Stages = append(c.Stages, so)
		total.Requests += so.Requests
		total.Answered += so.Answered
		total.Publishes += so.Publishes
		total.KVWrites += so.KVWrites
		total.KVReads += so.KVReads
		total.Acks += so.Acks
		total.Progress += so.Progress
		total.Pulls += so.Pulls
		total.API += so.API
		total.Stored += so.Stored
		total.FsyncWrites += so.FsyncWrites
	}
	c.Stages = append(c.Stages, total)
	// The account's count includes the rig's own requests.
	c.API = max(0, float64(after.API)-float64(before.API)-float64(after.RigAPI-before.RigAPI)) / n
	if before.SubInserts >= 0 && after.SubInserts >= 0 {
		s := float64(after.SubInserts-before.SubInserts) / n
		c.Subscriptions = &s
	}
	return c
}
