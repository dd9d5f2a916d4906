package faultsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestClusterOperatorCommands: "kycflow run --nats-url" runs every stage
// on the three-server cluster, creating the streams R3; the ledger of its
// run balances. Then the operator commands work on the R3 streams:
// "streams" shows each stream's leader and its two current replicas,
// "dlq list" and "dlq redrive" the dead letters of a route whose endpoint
// refused everything until it was fixed, "replay notify --redeliver"
// delivers an execution again, and "erase" leaves nothing of an account in
// any stream or bucket.
func TestClusterOperatorCommands(t *testing.T) {
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 25, Executions: 40, NetverifyScans: 10}, servers: 3, run: true})
	ctx := t.Context()
	rcv := w.p.Receiver()
	// hook-b's endpoint refuses everything: its results are dead-lettered.
	rcv.Fail("hook-b", http.StatusBadRequest)
	sent := w.send(ctx, jumiotest.CallbackOptions{Rate: 30, Concurrency: 4})
	w.settle()
	w.only200(sent)
	l := w.ledger(rig.AuditInput{Sent: sent, ExactCounters: true})
	if l == nil {
		return
	}
	deadLetters := 0
	for _, r := range l.Routes {
		if r.Name == "hook-b" {
			deadLetters = r.DeadLetters
		}
	}
	if deadLetters == 0 {
		t.Fatal("hook-b dead-lettered nothing")
	}

	// streams: every stream R3, with a leader and two current replicas.
	out, _ := w.kycflow(0, "streams", "--json")
	var reports []struct {
		Name    string `json:"name"`
		Drift   []string
		Missing bool `json:"missing"`
		Cluster *struct {
			Leader   string `json:"leader"`
			Replicas []struct {
				Name    string `json:"name"`
				Current bool   `json:"current"`
			} `json:"replicas"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("streams --json: %v\n%s", err, out)
	}
	for _, r := range reports {
		if r.Missing {
			// Created on first use (KYCFLOW_AUDIT by kycflow erase); a
			// missing stream of the stages would have made streams exit 1.
			continue
		}
		if r.Cluster == nil || r.Cluster.Leader == "" || len(r.Cluster.Replicas) != 2 {
			t.Errorf("streams: %s: cluster %+v, want a leader and two replicas", r.Name, r.Cluster)
			continue
		}
		for _, rep := range r.Cluster.Replicas {
			if !rep.Current {
				t.Errorf("streams: %s: replica %s not current", r.Name, rep.Name)
			}
		}
	}
	if text, _ := w.kycflow(0, "streams"); !strings.Contains(text, "leader nats-") || strings.Contains(text, "DEGRADED") {
		t.Errorf("streams does not show healthy leaders:\n%s", text)
	}

	// dlq: the route's dead letters, re-driven once its endpoint is fixed.
	list, _ := w.kycflow(0, "dlq", "list", "--route", "hook-b", "--json")
	if n := len(strings.Split(strings.TrimSpace(list), "\n")); n != deadLetters {
		t.Errorf("dlq list: %d dead letters, the ledger has %d", n, deadLetters)
	}
	rcv.Fail("hook-b", 0)
	w.kycflow(0, "dlq", "redrive", "--route", "hook-b")
	if err := rcv.WaitFor(w.timeout(time.Minute), "hook-b", deadLetters); err != nil {
		t.Errorf("after the redrive: %v", err)
	}
	w.settle()
	if list, _ := w.kycflow(0, "dlq", "list", "--route", "hook-b", "--json"); strings.TrimSpace(list) != "" {
		t.Errorf("dead letters left after the redrive:\n%s", list)
	}

	// replay: one execution delivered again to hook-a.
	execs := w.sim.Executions()
	account := execs[0].AccountID
	again := execs[len(execs)-1]
	for _, x := range execs {
		if x.AccountID != account {
			again = x
		}
	}
	count := func() int {
		n := 0
		for _, d := range rcv.Deliveries("hook-a") {
			if d.ExecutionID == again.ID {
				n++
			}
		}
		return n
	}
	before := count()
	w.kycflow(0, "replay", "notify", "--execution", again.ID, "--redeliver", "--route", "hook-a")
	w.awaitHeld("the replayed delivery", nil, before+1, count)

	// erase: nothing of the account is left anywhere in kycflow (the
	// deletion at Jumio has its own end-to-end tests in internal/cli; the
	// command here has no Jumio credentials).
	if account == again.AccountID {
		t.Fatal("the scenario has a single account: nothing to tell an erasure from")
	}
	w.kycflow(0, "erase", "--account", account, "--local-only", "--yes")
	token := "." + events.AccountToken(account) + "."
	for _, stream := range []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ} {
		msgs, err := rig.ReadStream(w.timeout(time.Minute), w.p.JetStream(), stream)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if strings.Contains(m.Subject+".", token) {
				t.Errorf("erase: %s still holds %s", stream, m.Subject)
			}
		}
	}
	for _, bucket := range []string{enricher.StateBucket, notifier.DeliveriesBucket} {
		keys, err := bucketKeys(w.timeout(time.Minute), w.p.JetStream(), bucket)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.Contains("."+k+".", token) {
				t.Errorf("erase: bucket %s still holds %s", bucket, k)
			}
		}
	}
}

// bucketKeys lists a bucket's keys. Like rig.ReadStream, it tries again
// until ctx ends while the cluster settles (a stream without a leader for
// a moment answers nothing).
func bucketKeys(ctx context.Context, js jetstream.JetStream, bucket string) ([]string, error) {
	for {
		kv, err := js.KeyValue(ctx, bucket)
		var keys []string
		if err == nil {
			var lister jetstream.KeyLister
			if lister, err = kv.ListKeys(ctx); err == nil {
				for k := range lister.Keys() {
					keys = append(keys, k)
				}
				_ = lister.Stop() // the listing was read to its end
				if err = ctx.Err(); err == nil {
					return keys, nil
				}
			}
		}
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// kycflow runs an operator command of the kycflow binary against the
// pipeline's servers, with the stream settings the services use, and
// fails the case unless it exits with code.
func (w *world) kycflow(code int, args ...string) (stdout, stderr string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), 2*time.Minute)
	defer cancel()
	args = slices.Insert(args, 1, "--nats-url", w.p.NATSURL())
	cmd := exec.CommandContext(ctx, binaries(w.t).Kycflow, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + w.t.TempDir(), "KYCFLOW_STREAM_REPLICAS=3", "KYCFLOW_DATA_DIR=" + w.t.TempDir()}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("kycflow %s: %v", strings.Join(args, " "), err)
	}
	if got != code {
		w.t.Fatalf("kycflow %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, o.String(), e.String())
	}
	return o.String(), e.String()
}

// timeout is a context that ends with the case or after d.
func (w *world) timeout(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(w.t.Context(), d)
	w.t.Cleanup(cancel)
	return ctx
}
