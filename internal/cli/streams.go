package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/embedded"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
)

func init() {
	register(&Command{
		Name:    "streams",
		Summary: "show the streams, their consumers and lag, and configuration drift",
		Usage:   "[flags]",
		Description: `Shows each kycflow stream (and the key-value buckets of the enricher and
the notifier): messages, bytes, the age of its first and last message, on
a cluster its leader and whether each other replica is current (DEGRADED
when it has no leader or a replica is behind or offline), and each
consumer's lag: messages not yet delivered (pending), delivered and not
yet acked (ack pending, including retries waiting for their delay), and
redelivered. It says which streams hold personal data and whether the
server stores each encrypted: yes or no for the embedded server of a
local "kycflow run" (read from its store), unknown for any other server
(NATS does not report it; see the server's jetstream key setting). It
compares each stream's configuration with what the services
would create from the KYCFLOW_STREAM_* variables in this environment, and
exits 1 when a stream is missing or differs.

Ephemeral consumers with nothing left to deliver (tail and replay readers,
which expire by themselves) are not listed; --json lists them. A notifier
consumer (notifier-<route>) of a route that no longer exists is flagged,
with the command that removes it: a route missing from the routes file of
KYCFLOW_NOTIFIER_ROUTES_FILE when that is set, otherwise one that no
running notifier reads while another route's consumer is read.`,
		Example: `  kycflow streams
  KYCFLOW_STREAM_REPLICAS=3 kycflow streams --nats-url nats://nats.internal:4222
  kycflow streams --json | jq '.[] | {name, messages}'`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			fs.Bool("json", false, "print JSON")
		},
		Run: runStreams,
	})
}

// Key-value buckets of the stages and of the operator commands, by their
// bucket names as the packages that own them export them (importing a
// package starts nothing), so the list cannot drift from what they create.
var kvBuckets = []string{enricher.StateBucket, notifier.DeliveriesBucket, reconcile.Bucket, migration.Bucket, erasure.Bucket}

// streamReport is one stream in "kycflow streams".
type streamReport struct {
	Name    string `json:"name"`
	Missing bool   `json:"missing,omitempty"`
	// PersonalData says whether the stream holds personal data, and
	// PersonalDataHeld which (streamPersonalData).
	PersonalData     bool   `json:"personalData"`
	PersonalDataHeld string `json:"personalDataHeld,omitempty"`
	// Encrypted says whether the server stores the stream encrypted:
	// yes, no, memory (not on disk) or unknown (storeEncryption).
	Encrypted string           `json:"encrypted,omitempty"`
	Messages  uint64           `json:"messages"`
	Bytes     uint64           `json:"bytes"`
	First     time.Time        `json:"first,omitzero"`
	Last      time.Time        `json:"last,omitzero"`
	Drift     []string         `json:"drift,omitempty"`
	Cluster   *clusterReport   `json:"cluster,omitempty"`
	Consumers []consumerReport `json:"consumers,omitempty"`
}

// clusterReport is where a stream lives in a JetStream cluster: its
// leader and the health of its other replicas.
type clusterReport struct {
	// Leader is the server that leads the stream ("" while none does:
	// the stream accepts no writes then).
	Leader   string          `json:"leader"`
	Replicas []replicaReport `json:"replicas,omitempty"`
}

type replicaReport struct {
	Name string `json:"name"`
	// Current: caught up with the leader; Offline: not seen recently.
	Current bool `json:"current"`
	Offline bool `json:"offline,omitempty"`
	// Lag is how many operations it is behind the leader.
	Lag uint64 `json:"lag,omitempty"`
}

// healthy reports whether the stream has a leader and every other
// replica is current.
func (c *clusterReport) healthy() bool {
	if c.Leader == "" {
		return false
	}
	for _, r := range c.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

// newClusterReport reads the cluster part of a stream's info; nil for a
// stream on a single server outside a cluster.
func newClusterReport(ci *jetstream.ClusterInfo) *clusterReport {
	if ci == nil || (ci.Name == "" && len(ci.Replicas) == 0) {
		return nil
	}
	c := &clusterReport{Leader: ci.Leader}
	for _, r := range ci.Replicas {
		c.Replicas = append(c.Replicas, replicaReport{Name: r.Name, Current: r.Current, Offline: r.Offline, Lag: r.Lag})
	}
	slices.SortFunc(c.Replicas, func(a, b replicaReport) int { return strings.Compare(a.Name, b.Name) })
	return c
}

type consumerReport struct {
	Name        string `json:"name"`
	Durable     bool   `json:"durable"`
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ackPending"`
	Redelivered int    `json:"redelivered"`
	// LastActive is the consumer's last delivery or acknowledgement.
	LastActive time.Time `json:"lastActive,omitzero"`
	// ackWait is the consumer's.
	ackWait time.Duration
	// Read: a pull request is waiting, something reads the consumer.
	Read bool `json:"read,omitempty"`
	// Orphan says why a notifier consumer belongs to no route any more.
	Orphan string `json:"orphan,omitempty"`
	// Unread says why a notifier consumer that may still be a route's is
	// not read at this moment.
	Unread string `json:"unread,omitempty"`
}

// finished reports whether c is an ephemeral consumer with nothing left
// to deliver.
func (c consumerReport) finished() bool { return !c.Durable && c.Pending == 0 && c.AckPending == 0 }

func runStreams(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("streams: unexpected argument %q", args[0])
	}
	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	want := map[string]jetstream.StreamConfig{}
	for _, sc := range s.streams.StreamConfigs() {
		want[sc.Name] = sc
	}
	encrypted := storeEncryption(env, fs)
	var reports []streamReport
	for _, name := range append(append(slices.Clone(broker.StreamNames), otherStreams...), kvStreams()...) {
		r, err := reportStream(ctx, s.js, name)
		if err != nil {
			return err
		}
		if w, ok := want[name]; ok && !r.Missing {
			r.Drift = broker.StreamDrift(r.config, w)
		}
		r.PersonalDataHeld = streamPersonalData[name]
		r.PersonalData = r.PersonalDataHeld != ""
		if !r.Missing {
			r.Encrypted = encryptedText(r.config, encrypted, name)
		}
		if name == events.StreamEnriched {
			flagOrphans(env, r.Consumers, time.Now())
		}
		reports = append(reports, r.streamReport)
	}
	if boolFlag(fs, "json") {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	} else {
		printStreams(env.Stdout, reports, time.Now())
	}
	var bad []string
	for _, r := range reports {
		if _, core := want[r.Name]; core && (r.Missing || len(r.Drift) > 0) {
			bad = append(bad, r.Name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("streams: %s missing or configured otherwise than this environment says (services create and update them at start)", strings.Join(bad, ", "))
	}
	return nil
}

// streamPersonalData says what personal data each stream holds; the
// streams and buckets not named hold none (ids, hashes, states and
// times). docs/operations.md ("Personal data at rest") has the same
// table, with the retention of each; a test keeps the two together.
var streamPersonalData = map[string]string{
	events.StreamCallbacks: "Netverify callbacks as received: names, date of birth, document number, address, image links (Platform callbacks hold ids only)",
	events.StreamEnriched:  "every result in full (person, document, image links, extra) and the raw Jumio document, unless KYCFLOW_ENRICHER_KEEP_RAW=false",
	events.StreamResults:   "the results of NATS routes with policy full (no_pii and decision_only results hold none)",
	events.StreamDLQ:       "enrich dead letters: the callbacks as received; notify dead letters: what the route's policy allows (reconcile dead letters hold ids)",
}

// storeEncryption says, per stream, whether the NATS server the command
// talks to stores it encrypted, or nil when that cannot be known. NATS
// reports nothing of its store encryption (neither the JetStream API nor
// the monitoring endpoints say), so it is read from the store itself,
// which only a local "kycflow run" lets this command see: when the
// command talks to the embedded server of the run in its data directory,
// a stream is encrypted when its directory holds a metadata key.
func storeEncryption(env Env, fs *flag.FlagSet) map[string]bool {
	ri, ok := localRun(env, fs)
	if !ok || ri.StoreDir == "" || natsURL(env, fs) != ri.NATSURL {
		return nil
	}
	enc, err := embedded.StreamsEncrypted(ri.StoreDir)
	if err != nil {
		return nil
	}
	return enc
}

// encryptedText is a stream's Encrypted: memory for a stream kept in
// memory, unknown when the store cannot be seen.
func encryptedText(cfg jetstream.StreamConfig, encrypted map[string]bool, name string) string {
	if cfg.Storage == jetstream.MemoryStorage {
		return "memory"
	}
	e, ok := encrypted[name]
	switch {
	case !ok:
		return "unknown"
	case e:
		return "yes"
	}
	return "no"
}

// otherStreams are the streams of bulk work and of the audit trail, which
// the enricher and "kycflow erase" create when they first need them.
var otherStreams = []string{migration.StreamWork, erasure.StreamAudit}

func kvStreams() []string {
	out := make([]string, len(kvBuckets))
	for i, b := range kvBuckets {
		out[i] = "KV_" + b
	}
	return out
}

type streamState struct {
	streamReport
	config jetstream.StreamConfig
}

func reportStream(ctx context.Context, js jetstream.JetStream, name string) (streamState, error) {
	r := streamState{streamReport: streamReport{Name: name}}
	cctx, cancel := ctxCall(ctx)
	defer cancel()
	st, err := js.Stream(cctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		r.Missing = true
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := st.Info(cctx)
	if err != nil {
		return r, fmt.Errorf("stream %s: %w", name, err)
	}
	r.config = info.Config
	r.Cluster = newClusterReport(info.Cluster)
	r.Messages, r.Bytes = info.State.Msgs, info.State.Bytes
	if info.State.Msgs > 0 {
		r.First, r.Last = info.State.FirstTime, info.State.LastTime
	}
	lister := st.ListConsumers(cctx)
	for ci := range lister.Info() {
		c := consumerReport{Name: ci.Name, Durable: ci.Config.Durable != "", Pending: ci.NumPending,
			AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered, Read: ci.NumWaiting > 0, ackWait: ci.Config.AckWait}
		for _, t := range []*time.Time{ci.Delivered.Last, ci.AckFloor.Last} {
			if t != nil && t.After(c.LastActive) {
				c.LastActive = *t
			}
		}
		r.Consumers = append(r.Consumers, c)
	}
	if err := lister.Err(); err != nil {
		return r, fmt.Errorf("stream %s: consumers: %w", name, err)
	}
	slices.SortFunc(r.Consumers, func(a, b consumerReport) int { return strings.Compare(a.Name, b.Name) })
	return r, nil
}

// heldIdle is how long a notifier consumer that holds messages and has no
// pull waiting must have neither delivered nor been acked before it is
// flagged as held unmoved (at least ten of its ack waits): a live
// notifier whose every slot waits on a slow endpoint moves within the
// longest webhook timeout (5 minutes) and the retry that follows.
var heldIdle = 15 * time.Minute

// flagOrphans marks the notifier consumers of routes that no longer
// exist: not in the routes file of KYCFLOW_NOTIFIER_ROUTES_FILE when it is
// set (and reads), else not read and holding nothing while a notifier
// reads another route's. Such a consumer keeps its backlog and its
// position; nothing delivers it. A route's consumer that is not read
// while another is (all its deliveries waiting on a slow endpoint, a
// route disabled after a 410 Gone, a notifier stopped) is marked unread.
func flagOrphans(env Env, consumers []consumerReport, now time.Time) {
	var routes map[string]bool
	file := env.Getenv("KYCFLOW_NOTIFIER_ROUTES_FILE")
	if file != "" {
		if rs, err := notifier.LoadRoutes(file, env.Getenv); err == nil {
			routes = map[string]bool{}
			for _, r := range rs {
				routes[r.Durable()] = true
			}
		}
	}
	running := slices.ContainsFunc(consumers, func(c consumerReport) bool {
		return c.Durable && c.Read && strings.HasPrefix(c.Name, notifier.DurablePrefix)
	})
	for i, c := range consumers {
		switch {
		case !c.Durable || !strings.HasPrefix(c.Name, notifier.DurablePrefix):
		case routes != nil && !routes[c.Name]:
			consumers[i].Orphan = "no route " + strings.TrimPrefix(c.Name, notifier.DurablePrefix) + " in " + file
		case !running || c.Read:
		case c.AckPending > 0 && now.Sub(c.LastActive) < max(heldIdle, 10*c.ackWait):
			// A notifier whose every delivery slot waits on a slow
			// endpoint pulls nothing meanwhile: no pull request waits,
			// and the messages it holds are unacknowledged. Deleting the
			// consumer would lose the route's backlog.
			consumers[i].Unread = fmt.Sprintf("no pull waiting, %d held unacknowledged (deliveries waiting on a slow endpoint, a route disabled after a 410 Gone, or a notifier that stopped with them)", c.AckPending)
		case c.AckPending > 0:
			// Nothing moved for longer than a slow endpoint holds a
			// delivery: a route disabled after a 410 keeps its messages
			// so (until the notifier restarts), and so does one removed
			// while its notifier held them. Only the routes file tells
			// the two apart: the removal is named, not listed.
			consumers[i].Unread = fmt.Sprintf("no pull waiting, %s held unmoved for %s: a route disabled after a 410 Gone (fix its endpoint, restart the notifier) or whose notifier stopped",
				count(c.AckPending, "message"), now.Sub(c.LastActive).Round(time.Second))
			if routes == nil {
				consumers[i].Unread += "; or one removed while its notifier held them, whose consumer then goes with nats consumer rm " + events.StreamEnriched + " " + c.Name + " -f"
			}
		case routes != nil:
			consumers[i].Unread = "no notifier reads it (a route disabled after a 410 Gone: fix its endpoint, restart the notifier; or its notifier stopped)"
		default:
			consumers[i].Orphan = "no notifier reads it (a route removed, renamed, or disabled after a 410)"
		}
	}
}

func printStreams(w io.Writer, reports []streamReport, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tMESSAGES\tBYTES\tFIRST\tLAST\tPERSONAL DATA\tENCRYPTED\tCONFIGURATION")
	var orphans []string
	hidden, unknown := 0, false
	for _, r := range reports {
		pd := "no"
		if r.PersonalData {
			pd = "yes"
		}
		if r.Missing {
			state := "missing"
			if slices.Contains(otherStreams, r.Name) {
				state = "not created yet (created on first use)"
			}
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\t-\t%s\n", r.Name, pd, state)
			continue
		}
		unknown = unknown || r.Encrypted == "unknown"
		conf := "as configured"
		if strings.HasPrefix(r.Name, "KV_") {
			conf = "bucket"
		}
		if len(r.Drift) > 0 {
			conf = "DIFFERS: " + strings.Join(r.Drift, "; ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Messages, bytesText(r.Bytes), ago(r.First, now), ago(r.Last, now), pd, r.Encrypted, conf)
		if c := r.Cluster; c != nil {
			fmt.Fprintf(tw, "  %s\t\t\t\t\t\t\t\n", clusterLine(c))
		}
		for _, c := range r.Consumers {
			if c.finished() {
				hidden++
				continue
			}
			kind := "consumer"
			if !c.Durable {
				kind = "ephemeral"
			}
			flag := ""
			switch {
			case c.Orphan != "":
				flag = "ORPHANED: " + c.Orphan
				orphans = append(orphans, "nats consumer rm "+r.Name+" "+c.Name+" -f")
			case c.Unread != "":
				flag = "NOT READ NOW: " + c.Unread
			}
			fmt.Fprintf(tw, "  %s %s\tpending %d\tack pending %d\tredelivered %d\tactive %s\t\t\t%s\n", kind, c.Name, c.Pending, c.AckPending, c.Redelivered, ago(c.LastActive, now), flag)
		}
	}
	tw.Flush()
	if unknown {
		fmt.Fprintf(w, "(ENCRYPTED unknown: NATS does not report whether a server encrypts its store; kycflow sees it only in the store of a local kycflow run. Check the server's jetstream key setting, docs/operations.md)\n")
	}
	if hidden > 0 {
		fmt.Fprintf(w, "(%s with nothing left to deliver not shown: tail and replay readers, which expire by themselves)\n", count(hidden, "ephemeral consumer"))
	}
	if len(orphans) > 0 {
		fmt.Fprintf(w, "\nOrphaned notifier consumers keep their backlog and nothing delivers it. Add the route back to the\n"+
			"routes file to deliver it, or remove the consumer (its position and backlog are lost) with the NATS CLI:\n")
		for _, o := range orphans {
			fmt.Fprintf(w, "  %s\n", o)
		}
	}
}

// clusterLine is a stream's leader and replicas, flagged DEGRADED when it
// has no leader or a replica is not current.
func clusterLine(c *clusterReport) string {
	var b strings.Builder
	if !c.healthy() {
		b.WriteString("DEGRADED: ")
	}
	leader := c.Leader
	if leader == "" {
		leader = "none (no writes until one is elected)"
	}
	fmt.Fprintf(&b, "leader %s", leader)
	for _, r := range c.Replicas {
		state := "current"
		switch {
		case r.Offline:
			state = "offline"
		case !r.Current:
			state = fmt.Sprintf("behind by %d", r.Lag)
		}
		fmt.Fprintf(&b, ", replica %s %s", r.Name, state)
	}
	return b.String()
}

// ago is a short age: "3s ago", "2h ago", "-" for none.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
