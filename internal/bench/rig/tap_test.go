package rig

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestClassify: every request subject the stages use is attributed to the
// stage that sends it, as the kind of operation it is.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		subject, data string
		stage         string
		ops           Ops
	}{
		{"jumio.callbacks.platform.acc.exec", "{}", StageIngest, Ops{Publishes: 1}},
		{"jumio.enriched.acc.exec", "{}", StageEnricher, Ops{Publishes: 1}},
		{"jumio.dlq.enrich.acc.exec", "{}", StageEnricher, Ops{Publishes: 1}},
		{"jumio.results.passed.wf.acc.exec", "{}", StageNotifier, Ops{Publishes: 1}},
		{"jumio.dlq.notify-hook.acc.exec", "{}", StageNotifier, Ops{Publishes: 1}},
		{"$KV.kycflow_enricher_executions.acc.exec", "{}", StageEnricher, Ops{KVWrites: 1}},
		{"$KV.kycflow_notifier_deliveries.hook.acc.exec.PROCESSED", "{}", StageNotifier, Ops{KVWrites: 1}},
		{"$JS.API.DIRECT.GET.KV_kycflow_enricher_executions.$KV.kycflow_enricher_executions.acc.exec", "", StageEnricher, Ops{KVReads: 1}},
		{"$JS.API.STREAM.MSG.GET.KV_kycflow_notifier_deliveries", `{"last_by_subj":"x"}`, StageNotifier, Ops{KVReads: 1}},
		{"$JS.API.DIRECT.GET.JUMIO_RESULTS", "{}", StageOther, Ops{API: 1}},
		{"$JS.ACK.JUMIO_CALLBACKS.enricher.1.2.3.4.5", "+ACK", StageEnricher, Ops{Acks: 1}},
		{"$JS.ACK.JUMIO_CALLBACKS.enricher.1.2.3.4.5", "+WPI", StageEnricher, Ops{Progress: 1}},
		{"$JS.ACK.JUMIO_CALLBACKS.enricher.1.2.3.4.5", "-NAK", StageEnricher, Ops{Acks: 1}},
		{"$JS.ACK.dom.hash.JUMIO_ENRICHED.notifier-hook.1.2.3.4.5.r", "+ACK", StageNotifier, Ops{Acks: 1}},
		{"$JS.API.CONSUMER.MSG.NEXT.JUMIO_CALLBACKS.enricher", `{"batch":1}`, StageEnricher, Ops{Pulls: 1}},
		{"$JS.API.CONSUMER.MSG.NEXT.JUMIO_ENRICHED.notifier-results", `{"batch":1}`, StageNotifier, Ops{Pulls: 1}},
		{"$JS.API.CONSUMER.INFO.JUMIO_ENRICHED.notifier-results", "", StageNotifier, Ops{API: 1}},
		{"$JS.API.STREAM.INFO.JUMIO_ENRICHED", "", StageOther, Ops{API: 1}},
		{"$JS.ACK.OTHER.consumer.1.2.3.4.5", "+ACK", StageOther, Ops{Acks: 1}},
		{"$JS.ACK.JUMIO_CALLBACKS.reconciler.1.2.3.4.5", "+ACK", StageReconciler, Ops{Acks: 1}},
		{"$JS.ACK.JUMIO_EXECUTIONS.reconciler.1.2.3.4.5", "+ACK", StageReconciler, Ops{Acks: 1}},
		{"$JS.API.CONSUMER.MSG.NEXT.JUMIO_CALLBACKS.reconciler", `{"batch":1}`, StageReconciler, Ops{Pulls: 1}},
		{"$KV.kycflow_reconcile_executions.acc.exec", "{}", StageReconciler, Ops{KVWrites: 1}},
		{"$JS.API.DIRECT.GET.KV_kycflow_reconcile_executions.$KV.kycflow_reconcile_executions.acc.exec", "", StageReconciler, Ops{KVReads: 1}},
		{"$JS.API.DIRECT.GET.KV_kycflow_migration.$KV.kycflow_migration.ref", "", StageEnricher, Ops{KVReads: 1}},
		{"$JS.API.DIRECT.GET.KV_kycflow_erasures.$KV.kycflow_erasures.scan", "", StageEnricher, Ops{KVReads: 1}},
	} {
		stage, ops := classify(tc.subject, []byte(tc.data))
		if stage != tc.stage || ops != tc.ops {
			t.Errorf("classify(%q, %q) = %s %+v, want %s %+v", tc.subject, tc.data, stage, ops, tc.stage, tc.ops)
		}
	}
}

// TestNewOpsCount: counts and stored messages are divided by the results,
// fsync-bearing writes are stored messages times replicas on file streams
// under sync always, and the rig's own API requests are left out of the
// server's count.
func TestNewOpsCount(t *testing.T) {
	before := ServerFigures{
		Streams: map[string]StreamFigures{
			"JUMIO_CALLBACKS":                {LastSeq: 10, Replicas: 3, File: true},
			"KV_kycflow_enricher_executions": {LastSeq: 0, Replicas: 3, File: true},
			"JUMIO_RESULTS":                  {LastSeq: 5, Replicas: 1, File: false},
		},
		API: 100, RigAPI: 7, SubInserts: 40,
	}
	after := ServerFigures{
		Streams: map[string]StreamFigures{
			"JUMIO_CALLBACKS":                {LastSeq: 20, Replicas: 3, File: true},
			"KV_kycflow_enricher_executions": {LastSeq: 20, Replicas: 3, File: true},
			"JUMIO_RESULTS":                  {LastSeq: 15, Replicas: 1, File: false},
		},
		API: 150, RigAPI: 37, SubInserts: 60,
	}
	ops := map[string]Ops{
		StageIngest:   {Publishes: 10, Answered: 10},
		StageEnricher: {KVWrites: 20, KVReads: 10, Acks: 10, Pulls: 5, Answered: 30},
	}
	got := NewOpsCount(10, ops, before, after, true)
	subs := 2.0
	want := &OpsCount{
		Results: 10,
		Stages: []StageOps{
			{Stage: StageIngest, Requests: 1, Answered: 1, Publishes: 1, Stored: 1, FsyncWrites: 3},
			{Stage: StageEnricher, Requests: 4.5, Answered: 3, KVWrites: 2, KVReads: 1, Acks: 1, Pulls: 0.5, Stored: 2, FsyncWrites: 6},
			{Stage: StageNotifier, Stored: 1},
			{Stage: "total", Requests: 5.5, Answered: 4, Publishes: 1, KVWrites: 2, KVReads: 1, Acks: 1, Pulls: 0.5, Stored: 4, FsyncWrites: 9},
		},
		Stored:        map[string]float64{"JUMIO_CALLBACKS": 1, "KV_kycflow_enricher_executions": 2, "JUMIO_RESULTS": 1},
		API:           2,
		Subscriptions: &subs,
		SyncAlways:    true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewOpsCount (-want +got):\n%s", diff)
	}
}

// TestStreamStage: what a stream or bucket stores is counted for the stage
// that writes it, and every bucket a stage writes is counted.
func TestStreamStage(t *testing.T) {
	for stream, want := range map[string]string{
		"JUMIO_CALLBACKS":                 StageIngest,
		"JUMIO_ENRICHED":                  StageEnricher,
		"KV_kycflow_enricher_executions":  StageEnricher,
		"KV_kycflow_migration":            StageEnricher,
		"KV_kycflow_reconcile_executions": StageReconciler,
		"JUMIO_RESULTS":                   StageNotifier,
		"KV_kycflow_notifier_deliveries":  StageNotifier,
		"JUMIO_DLQ":                       "",
		"JUMIO_EXECUTIONS":                "",
	} {
		if got := streamStage(stream); got != want {
			t.Errorf("streamStage(%s) = %q, want %q", stream, got, want)
		}
		if !slices.Contains(CountedStreams, stream) {
			t.Errorf("%s is not counted", stream)
		}
	}
}
