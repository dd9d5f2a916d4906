package broker_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

var benchPayload = make([]byte, 1024)

func benchSetup(b *testing.B) jetstream.JetStream {
	b.Helper()
	srv := brokertest.Start(b)
	_, js := srv.JetStream(b)
	return js
}

// BenchmarkPublisher publishes 1 KiB messages, each waiting for its
// PubAck, from 4 goroutines per CPU.
func BenchmarkPublisher(b *testing.B) {
	js := benchSetup(b)
	pub, err := broker.NewPublisher(broker.PublisherConfig{}, js)
	if err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.SetBytes(int64(len(benchPayload)))
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := strconv.FormatInt(seq.Add(1), 10)
			if err := pub.Publish(events.CallbackSubject(events.APIPlatform, "bench", id), message.NewMessage(id, benchPayload)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSubscriber reads b.N stored 1 KiB messages through a Subscriber
// and acks each, with the given concurrency.
func BenchmarkSubscriber(b *testing.B) {
	for _, concurrency := range []int{1, 16, 64} {
		b.Run("concurrency="+strconv.Itoa(concurrency), func(b *testing.B) {
			js := benchSetup(b)
			for i := range b.N {
				m := nats.NewMsg(events.CallbackSubject(events.APIPlatform, "bench", strconv.Itoa(i)))
				m.Data = benchPayload
				if _, err := js.PublishMsgAsync(m); err != nil {
					b.Fatal(err)
				}
			}
			<-js.PublishAsyncComplete()
			sub, err := broker.NewSubscriber(broker.SubscriberConfig{
				Stream: events.StreamCallbacks, Durable: "bench", Concurrency: concurrency, MaxAckPending: 10000,
			}, js)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(benchPayload)))
			b.ResetTimer()
			ch, err := sub.Subscribe(b.Context(), "")
			if err != nil {
				b.Fatal(err)
			}
			for range b.N {
				msg := <-ch
				go msg.Ack()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			_ = sub.Close()
		})
	}
}
