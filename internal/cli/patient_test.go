package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
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

// TestStreamRequestsWaitOutNoResponders: the requests an operator command
// sends through the handles patientJS returns (stream information, a
// message, the last message of a subject, a delete, a purge, an ordered
// consumer, a consumer's information, a bucket's reads and writes), and its
// publishes, are asked again while no one answers them, as the lookups
// are: a handle looked up just before a stream lost its leader does not
// fail the command.
func TestStreamRequestsWaitOutNoResponders(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	serve := func(jsOn bool) *natsserver.Server {
		t.Helper()
		opts := &natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}
		if jsOn {
			opts.JetStream, opts.StoreDir = true, dir
		}
		srv, err := natsserver.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		t.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatal("server not ready")
		}
		return srv
	}

	// Handles looked up while JetStream answers.
	first := serve(true)
	nc, err := nats.Connect(first.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "TEST", jetstream.ConsumerConfig{Durable: "durable"}); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"test.a", "test.b", "test.c", "test.d"} {
		if _, err := js.Publish(ctx, subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	bucket, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "test", History: 2})
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]uint64{}
	for _, key := range []string{"get", "update", "delete", "purge"} {
		if revs[key], err = bucket.Put(ctx, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	pj := patientJS{js}
	kv, err := pj.KeyValue(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	st, err := pj.Stream(ctx, "TEST")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pj.Consumer(ctx, "TEST", "durable")
	if err != nil {
		t.Fatal(err)
	}

	// The same store served with JetStream off: nothing answers.
	first.Shutdown()
	first.WaitForShutdown()
	second := serve(false)
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsConnected() || nc.ConnectedUrl() == "" {
		if time.Now().After(deadline) {
			t.Fatal("no reconnection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := st.(patientStream).Stream.Info(ctx); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("information through a plain handle: %v, want no responders", err)
	}

	requests := map[string]func() error{
		"Info": func() error {
			info, err := st.Info(ctx)
			if err == nil && info.Config.Name != "TEST" {
				err = errors.New("another stream: " + info.Config.Name)
			}
			return err
		},
		"GetMsg": func() error {
			m, err := st.GetMsg(ctx, 1)
			if err == nil && m.Subject != "test.a" {
				err = errors.New("another message: " + m.Subject)
			}
			return err
		},
		"GetLastMsgForSubject": func() error {
			m, err := st.GetLastMsgForSubject(ctx, "test.b")
			if err == nil && m.Sequence != 2 {
				err = fmt.Errorf("sequence %d, want 2", m.Sequence)
			}
			return err
		},
		"DeleteMsg": func() error { return st.DeleteMsg(ctx, 3) },
		"Purge":     func() error { return st.Purge(ctx, jetstream.WithPurgeSubject("test.d")) },
		"OrderedConsumer": func() error {
			_, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"test.a"}})
			return err
		},
		"PublishMsg": func() error {
			ack, err := pj.PublishMsg(ctx, &nats.Msg{Subject: "test.e", Data: []byte("e")})
			if err == nil && ack.Stream != "TEST" {
				err = errors.New("stored in another stream: " + ack.Stream)
			}
			return err
		},
		"kv Get": func() error {
			e, err := kv.Get(ctx, "get")
			if err == nil && string(e.Value()) != "get" {
				err = errors.New("another value: " + string(e.Value()))
			}
			return err
		},
		"kv Put":    func() error { _, err := kv.Put(ctx, "put", []byte("put")); return err },
		"kv Create": func() error { _, err := kv.Create(ctx, "create", []byte("create")); return err },
		"kv Update": func() error { _, err := kv.Update(ctx, "update", []byte("updated"), revs["update"]); return err },
		"kv Delete": func() error { return kv.Delete(ctx, "delete") },
		"kv Purge":  func() error { return kv.Purge(ctx, "purge") },
		"consumer Info": func() error {
			info, err := c.Info(ctx)
			if err == nil && info.Name != "durable" {
				err = errors.New("another consumer: " + info.Name)
			}
			return err
		},
	}
	type outcome struct {
		name string
		err  error
	}
	done := make(chan outcome, len(requests))
	for name, req := range requests {
		go func() { done <- outcome{name, req()} }()
	}
	// Longer than nats.go itself retries a publish without a responder.
	time.Sleep(1200 * time.Millisecond)
	if err := second.EnableJetStream(&natsserver.JetStreamConfig{StoreDir: dir}); err != nil {
		t.Fatal(err)
	}
	for range requests {
		if o := <-done; o.err != nil {
			t.Errorf("%s once JetStream answers: %v", o.name, o.err)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("%d messages, want 3 (four, one deleted, one purged, one published)", info.State.Msgs)
	}

	keys, err := kv.Keys(ctx)
	slices.Sort(keys)
	if want := []string{"create", "get", "put", "update"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("keys %v (%v), want %v", keys, err, want)
	}

	// An answer that is an error still fails at once.
	if _, err := st.GetMsg(ctx, 99); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("a message that does not exist: %v, want ErrMsgNotFound", err)
	}
	if _, err := kv.Create(ctx, "get", nil); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("a key that exists created: %v, want ErrKeyExists", err)
	}
}
