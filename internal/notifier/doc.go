// Package notifier is the stage downstream services meet: it reads
// normalized results from JUMIO_ENRICHED and delivers them along routes,
// as NATS messages in JUMIO_RESULTS and as signed webhooks.
//
// A routes file (LoadRoutes; YAML, a ConfigMap in Kubernetes) lists the
// routes. Each has a name, a filter (decision, status, workflow key,
// product, issuing country, API), a field policy (events.Policy) and one
// sink. The file is validated whole at start, with errors that name the
// line and the route; a bad file never starts a notifier with part of its
// routes.
//
// Each route reads through its own durable consumer (notifier-<route>),
// so a slow or failing endpoint holds back no other route. Per result a
// route filters, projects by its policy (events.Project), and asks the
// delivery records (a JetStream key-value bucket, DeliveriesBucket) whether
// the same result was delivered already for that execution and status;
// identical repeats (redeliveries, duplicate callbacks, restarts, replays
// without redeliver) are suppressed and counted, and so is a result older
// than the newest one delivered (stale). A delivery claims its
// record while it runs, so two copies of one result are not delivered side
// by side, and is recorded after the sink confirms it. A crash between the
// two can repeat a delivery; it then carries the same id (webhook-id,
// Nats-Msg-Id: DeliveryID), which receivers and JetStream de-duplicate.
//
// Sinks: NATSSink publishes the projected result as a CloudEvent to
// <prefix>.<decision>.<workflowKey>.<account>.<execution> and waits for the
// stream's ack; WebhookSink posts a Standard Webhooks envelope
// (https://www.standardwebhooks.com) signed with every key of the route
// (events.SignWebhook; receivers check it with events.VerifyWebhook),
// follows no redirect, and refuses loopback, private and link-local
// targets at connection time unless the route allows them. 2xx is
// delivered; 408, 429, 5xx, timeouts and connection errors are retried with
// exponential back-off and jitter (Retry-After honoured) up to the route's
// budget of failed calls (counted in the delivery record); 410 Gone disables the route until a restart; anything else, and
// a spent budget, dead-letters the message to
// jumio.dlq.notify-<route>.<account>.<execution>.
//
// A replayed message (Kycflow-Replay) is delivered again only when its
// marker asks for redelivery and covers the route. It carries the marker
// to the sink (header Kycflow-Replay; "replay": true in webhook bodies)
// only when it repeats what the route delivered for that execution status;
// a first delivery through a replay is a normal one.
//
// New and Notifier.Run run the routes on a given JetStream connection
// ("kycflow run" uses them); Run is the whole notifier process.
package notifier
