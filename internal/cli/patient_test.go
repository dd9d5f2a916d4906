package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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

// unanswering counts down the requests no one answers: each request
// named in left is answered with nats.ErrNoResponders (for a publish,
// jetstream.ErrNoStreamResponse, as nats.go reports it) that many times
// before it reaches JetStream.
type unanswering struct {
	mu   sync.Mutex
	left map[string]int
}

func (u *unanswering) unanswered(name string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.left[name] > 0 {
		u.left[name]--
		return true
	}
	return false
}

type unansweredJS struct {
	jetstream.JetStream
	*unanswering
}

func (j unansweredJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if j.unanswered("PublishMsg") {
		return nil, jetstream.ErrNoStreamResponse
	}
	return j.JetStream.PublishMsg(ctx, msg, opts...)
}

type unansweredStream struct {
	jetstream.Stream
	*unanswering
}

func (s unansweredStream) Info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	if s.unanswered("Info") {
		return nil, nats.ErrNoResponders
	}
	return s.Stream.Info(ctx, opts...)
}

func (s unansweredStream) GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error) {
	if s.unanswered("GetMsg") {
		return nil, nats.ErrNoResponders
	}
	return s.Stream.GetMsg(ctx, seq, opts...)
}

func (s unansweredStream) GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	if s.unanswered("GetLastMsgForSubject") {
		return nil, nats.ErrNoResponders
	}
	return s.Stream.GetLastMsgForSubject(ctx, subject)
}

func (s unansweredStream) DeleteMsg(ctx context.Context, seq uint64) error {
	if s.unanswered("DeleteMsg") {
		return nats.ErrNoResponders
	}
	return s.Stream.DeleteMsg(ctx, seq)
}

func (s unansweredStream) Purge(ctx context.Context, opts ...jetstream.StreamPurgeOpt) error {
	if s.unanswered("Purge") {
		return nats.ErrNoResponders
	}
	return s.Stream.Purge(ctx, opts...)
}

func (s unansweredStream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	if s.unanswered("OrderedConsumer") {
		return nil, nats.ErrNoResponders
	}
	return s.Stream.OrderedConsumer(ctx, cfg)
}

func (s unansweredStream) ListConsumers(ctx context.Context) jetstream.ConsumerInfoLister {
	if s.unanswered("ListConsumers") {
		return listedConsumers{err: nats.ErrNoResponders}
	}
	return s.Stream.ListConsumers(ctx)
}

type unansweredConsumer struct {
	jetstream.Consumer
	*unanswering
}

func (c unansweredConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	if c.unanswered("consumer Info") {
		return nil, nats.ErrNoResponders
	}
	return c.Consumer.Info(ctx)
}

type unansweredKV struct {
	jetstream.KeyValue
	*unanswering
}

func (kv unansweredKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if kv.unanswered("kv Get") {
		return nil, nats.ErrNoResponders
	}
	return kv.KeyValue.Get(ctx, key)
}

func (kv unansweredKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if kv.unanswered("kv Put") {
		return 0, jetstream.ErrNoStreamResponse
	}
	return kv.KeyValue.Put(ctx, key, value)
}

func (kv unansweredKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if kv.unanswered("kv Create") {
		return 0, jetstream.ErrNoStreamResponse
	}
	return kv.KeyValue.Create(ctx, key, value, opts...)
}

func (kv unansweredKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	if kv.unanswered("kv Update") {
		return 0, jetstream.ErrNoStreamResponse
	}
	return kv.KeyValue.Update(ctx, key, value, revision)
}

func (kv unansweredKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if kv.unanswered("kv Delete") {
		return jetstream.ErrNoStreamResponse
	}
	return kv.KeyValue.Delete(ctx, key, opts...)
}

func (kv unansweredKV) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if kv.unanswered("kv Purge") {
		return jetstream.ErrNoStreamResponse
	}
	return kv.KeyValue.Purge(ctx, key, opts...)
}

// TestHandleRequestsWaitOutNoResponders: the requests an operator command
// sends through the handles patientJS returns (stream information, a
// message, the last message of a subject, a delete, a purge, an ordered
// consumer, the consumers' listing, a consumer's information, a bucket's
// reads and writes), and its publishes, are asked again while no one
// answers them, as the lookups are (TestStreamLookupWaitsOutNoResponders:
// a stream that lost its leader for a moment must not fail the command);
// an answer that is an error still fails at once. Each request goes
// unanswered twice, then reaches a real JetStream server.
func TestHandleRequestsWaitOutNoResponders(t *testing.T) {
	_, js := brokertest.Start(t).JetStream(t)
	ctx := t.Context()
	raw, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test.>"}})
	if err != nil {
		t.Fatal(err)
	}
	rawConsumer, err := js.CreateOrUpdateConsumer(ctx, "TEST", jetstream.ConsumerConfig{Durable: "durable"})
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"test.a", "test.b", "test.c", "test.d"} {
		if _, err := js.Publish(ctx, subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	rawKV, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "test", History: 2})
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]uint64{}
	for _, key := range []string{"get", "update", "delete", "purge"} {
		if revs[key], err = rawKV.Put(ctx, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}

	requests := map[string]func() error{}
	u := &unanswering{left: map[string]int{}}
	pj := patientJS{unansweredJS{js, u}}
	st := patientStream{unansweredStream{raw, u}}
	c := patientConsumer{unansweredConsumer{rawConsumer, u}}
	kv := patientKeyValue{unansweredKV{rawKV, u}}
	add := func(name string, req func() error) {
		requests[name] = req
		u.left[name] = 2
	}
	add("Info", func() error {
		info, err := st.Info(ctx)
		if err == nil && info.Config.Name != "TEST" {
			err = errors.New("another stream: " + info.Config.Name)
		}
		return err
	})
	add("GetMsg", func() error {
		m, err := st.GetMsg(ctx, 1)
		if err == nil && m.Subject != "test.a" {
			err = errors.New("another message: " + m.Subject)
		}
		return err
	})
	add("GetLastMsgForSubject", func() error {
		m, err := st.GetLastMsgForSubject(ctx, "test.b")
		if err == nil && m.Sequence != 2 {
			err = fmt.Errorf("sequence %d, want 2", m.Sequence)
		}
		return err
	})
	add("DeleteMsg", func() error { return st.DeleteMsg(ctx, 3) })
	add("Purge", func() error { return st.Purge(ctx, jetstream.WithPurgeSubject("test.d")) })
	add("OrderedConsumer", func() error {
		_, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"test.a"}})
		return err
	})
	add("ListConsumers", func() error {
		l := st.ListConsumers(ctx)
		var names []string
		for ci := range l.Info() {
			names = append(names, ci.Name)
		}
		if err := l.Err(); err != nil {
			return err
		}
		if !slices.Contains(names, "durable") {
			return fmt.Errorf("consumers %v, want durable among them", names)
		}
		return nil
	})
	add("PublishMsg", func() error {
		ack, err := pj.PublishMsg(ctx, &nats.Msg{Subject: "test.e", Data: []byte("e")})
		if err == nil && ack.Stream != "TEST" {
			err = errors.New("stored in another stream: " + ack.Stream)
		}
		return err
	})
	add("consumer Info", func() error {
		info, err := c.Info(ctx)
		if err == nil && info.Name != "durable" {
			err = errors.New("another consumer: " + info.Name)
		}
		return err
	})
	add("kv Get", func() error {
		e, err := kv.Get(ctx, "get")
		if err == nil && string(e.Value()) != "get" {
			err = errors.New("another value: " + string(e.Value()))
		}
		return err
	})
	add("kv Put", func() error { _, err := kv.Put(ctx, "put", []byte("put")); return err })
	add("kv Create", func() error { _, err := kv.Create(ctx, "create", []byte("create")); return err })
	add("kv Update", func() error { _, err := kv.Update(ctx, "update", []byte("updated"), revs["update"]); return err })
	add("kv Delete", func() error { return kv.Delete(ctx, "delete") })
	add("kv Purge", func() error { return kv.Purge(ctx, "purge") })

	for name, req := range requests {
		if err := req(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if left := u.left[name]; left != 0 {
			t.Errorf("%s: asked %d times fewer than it went unanswered", name, left)
		}
	}
	info, err := raw.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("%d messages, want 3 (four, one deleted, one purged, one published)", info.State.Msgs)
	}
	keys, err := rawKV.Keys(ctx)
	slices.Sort(keys)
	if want := []string{"create", "get", "put", "update"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("keys %v (%v), want %v", keys, err, want)
	}
	if _, err := st.GetMsg(ctx, 99); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("a message that does not exist: %v, want ErrMsgNotFound", err)
	}
	if _, err := kv.Create(ctx, "get", nil); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("a key that exists created: %v, want ErrKeyExists", err)
	}
}

// unansweredFetches is a consumer whose first fetches no one answers,
// then the real consumer's.
type unansweredFetches struct {
	jetstream.Consumer
	left  int
	err   error
	calls int
}

func (c *unansweredFetches) FetchNoWait(batch int) (jetstream.MessageBatch, error) {
	c.calls++
	if c.left > 0 {
		c.left--
		return failedBatch{c.err}, nil
	}
	return c.Consumer.FetchNoWait(batch)
}

type failedBatch struct{ err error }

func (b failedBatch) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg)
	close(ch)
	return ch
}

func (b failedBatch) Error() error { return b.err }

// TestVisitWaitsOutUnansweredFetches: a fetch of a stream scan that no one
// answered (in a cluster, a consumer not yet running on its server) is
// asked again, and the scan visits every message; a fetch answered with
// an error fails the scan at once.
func TestVisitWaitsOutUnansweredFetches(t *testing.T) {
	_, js := brokertest.Start(t).JetStream(t)
	ctx := t.Context()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCAN", Subjects: []string{"scan.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"scan.1", "scan.2", "scan.3"} {
		if _, err := js.Publish(ctx, subj, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"no responders", nats.ErrNoResponders, false},
		{"another error", errors.New("consumer deleted"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
			if err != nil {
				t.Fatal(err)
			}
			c := &unansweredFetches{Consumer: oc, left: 2, err: tt.err}
			var got []string
			err = visit(ctx, "SCAN", c, 3, func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
				got = append(got, m.Subject())
				return nil
			})
			if tt.wantErr {
				if !errors.Is(err, tt.err) || c.calls != 1 {
					t.Errorf("visit: %v after %d fetches, want %v after one", err, c.calls, tt.err)
				}
				return
			}
			if want := []string{"scan.1", "scan.2", "scan.3"}; err != nil || !slices.Equal(got, want) || c.calls != 3 {
				t.Errorf("visited %v (%v) in %d fetches, want %v in 3", got, err, c.calls, want)
			}
		})
	}
}

// TestUntilAnsweredRestoreGrace: a "stream not found" that follows
// unanswered requests (JetStream just came up and restores its streams)
// is asked again; one that comes first is believed at once.
func TestUntilAnsweredRestoreGrace(t *testing.T) {
	answers := func(errs ...error) func() (int, error) {
		i := 0
		return func() (int, error) {
			i++
			if i <= len(errs) {
				return 0, errs[i-1]
			}
			return i, nil
		}
	}
	n, err := untilAnswered(t.Context(), answers(nats.ErrNoResponders, jetstream.ErrStreamNotFound, jetstream.ErrStreamNotFound))
	if err != nil || n != 4 {
		t.Errorf("not found after no responders: got %d, %v; want the fourth answer", n, err)
	}
	if _, err := untilAnswered(t.Context(), answers(jetstream.ErrStreamNotFound)); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("not found first: %v, want it at once", err)
	}
	if _, err := untilAnswered(t.Context(), answers(nats.ErrNoResponders, jetstream.ErrKeyNotFound)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("a key not found after no responders: %v, want it at once (keys are data, not restored streams)", err)
	}
}
