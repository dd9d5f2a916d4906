package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
)

// TestStreamLookupWaitsOutNoResponders: an operator command's stream or
// bucket lookup that no one answers (a cluster's stream without a leader for a
// moment) is asked again until JetStream answers, instead of failing the
// command; a lookup JetStream answers with an error fails at once.
func TestStreamLookupWaitsOutNoResponders(t *testing.T) {
	// A store holding stream TEST, written by a server that is gone.
	dir := t.TempDir()
	first := brokertest.Start(t, brokertest.WithStoreDir(dir))
	_, js := first.JetStream(t)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "test"}); err != nil {
		t.Fatal(err)
	}
	first.Stop()

	// A server on that store with JetStream off: nothing answers the
	// JetStream API until it is turned on.
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	plain, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Stream(t.Context(), "TEST"); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("lookup before JetStream is on: %v, want no responders", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 2)
	go func() {
		st, err := patientJS{plain}.Stream(ctx, "TEST")
		if err == nil && st.CachedInfo().Config.Name != "TEST" {
			err = errors.New("another stream: " + st.CachedInfo().Config.Name)
		}
		done <- err
	}()
	go func() {
		kv, err := patientJS{plain}.KeyValue(ctx, "test")
		if err == nil && kv.Bucket() != "test" {
			err = errors.New("another bucket: " + kv.Bucket())
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // a few lookups go unanswered
	if err := srv.EnableJetStream(&natsserver.JetStreamConfig{StoreDir: dir}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("lookup once JetStream answers: %v", err)
		}
	}

	if _, err := (patientJS{plain}).Stream(ctx, "MISSING"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("lookup of a stream that does not exist: %v, want ErrStreamNotFound", err)
	}
	if _, err := (patientJS{plain}).KeyValue(ctx, "missing"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("lookup of a bucket that does not exist: %v, want ErrBucketNotFound", err)
	}
}
