package broker

// UseTopicStreams makes a Subscriber treat every topic as its own stream
// with that topic as its only subject, created by SubscribeInitialize (in
// memory), and the durable as a consumer of it. Watermill's tests.TestPubSub
// needs this: it invents a topic per test.
func UseTopicStreams(c *SubscriberConfig) { c.topicStreams = true }
