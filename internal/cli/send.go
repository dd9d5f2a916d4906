package cli

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// samples are Jumio callbacks with invented data (from
// pkg/jumio/testdata). The Platform one has its workflow details next to
// it, which "kycflow run" gives its simulator, so that it is enriched.
//
//go:embed samples
var samples embed.FS

func init() {
	register(&Command{
		Name:    "send",
		Summary: "post Jumio callbacks to ingest: new simulated transactions, generated or samples",
		Usage:   "[flags]",
		Description: `Posts Jumio callbacks to an ingest (default the local kycflow run's) and
prints one line per callback as it is answered: the answer, the API, the
ids and the outcome Jumio would report; then a summary. It exits 1 when a
callback was not stored. Ctrl-C stops it and says how many were sent. A
callback answered 429 or 503 (ingest's rate limit per address, which a
local kycflow run applies to loopback; NATS unavailable) is posted again
after its Retry-After, up to --retries more times, as Jumio retries.

Where they come from:
  simulator  (default when kycflow run started one) the simulator creates new
             transactions and sends their callbacks, as Jumio would; the
             enricher then fetches their details from it: real results.
  generated  (--generate) transactions generated here from --seed, sent with
             hrefs of your Jumio region; only ingest can be tested this way,
             the enricher finds them nowhere.
  samples    (--samples) the sample callbacks kycflow ships (one Platform,
             four Netverify); kycflow run's simulator knows the Platform one.

With KYCFLOW_INGEST_PATH_SECRET set the callback URLs end with it; with
KYCFLOW_INGEST_USER_REFERENCE_SECRETS set Platform callbacks carry a
userReference signed with the first secret.`,
		Example: `  kycflow send                              # 10 callbacks, Platform and Netverify
  kycflow send --count 200 --rate 50 --api platform --mix passed=1,rejected=1
  kycflow send --samples --url http://localhost:8080
  kycflow send --generate --count 1000 --rate 0 --json > sent.ndjson`,
		Flags: func(fs *flag.FlagSet) {
			fs.String("url", "", "base URL of ingest (default the local kycflow run's, else http://localhost:8080)")
			fs.String("simulator", "", "base URL of the Jumio simulator that sends the callbacks (default the local kycflow run's)")
			dataDirFlag(fs)
			fs.Bool("generate", false, "generate the callbacks here instead of asking the simulator")
			fs.Bool("samples", false, "send the sample callbacks instead")
			fs.String("api", "mixed", "callbacks of which API: platform, netverify or mixed (three Platform to one Netverify)")
			fs.Int("count", 10, "number of transactions (each sends one callback, plus repeats)")
			fs.Float64("rate", 10, "callbacks per second (0: as fast as --concurrency allows)")
			fs.Int("concurrency", 4, "callbacks in flight at once")
			fs.String("mix", "", "weights of the Platform outcomes, for example passed=70,warning=10,rejected=10,session_expired=5,token_expired=5")
			fs.Int("duplicates", 0, "send every callback this many more times, unchanged (Jumio's retries)")
			fs.Bool("out-of-order", false, "follow every callback with a stale repeat (an older callbackSentAt)")
			fs.Int("retries", 5, "post a callback answered 429 or 503 again, after its Retry-After, up to this many more times (as Jumio retries)")
			fs.Uint64("seed", 1, "seed of --generate (the same seed generates the same transactions)")
			fs.Bool("json", false, "print one JSON object per callback")
		},
		Run: runSend,
	})
}

// sentLine is one callback "kycflow send" posted.
type sentLine struct {
	API                 string `json:"api"`
	AccountID           string `json:"accountId,omitempty"`
	WorkflowExecutionID string `json:"workflowExecutionId"`
	// Outcome is what the transaction's result is made to be (PASSED,
	// REJECTED, APPROVED_VERIFIED, ...), when known.
	Outcome   string `json:"outcome,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Stale     bool   `json:"stale,omitempty"`
	Status    int    `json:"status"`
	Error     string `json:"error,omitempty"`
}

type sendTarget struct {
	platformURL, netverifyURL string
	userRefSecret             []byte
}

func runSend(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("send: unexpected argument %q", args[0])
	}
	ri, local := localRun(env, fs)
	base := cmp.Or(strFlag(fs, "url"), ri.IngestURL, "http://localhost:8080")
	base = strings.TrimRight(base, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return usageError("send: --url %q is not an http(s) URL", base)
	}
	tgt := sendTarget{
		platformURL:  base + "/callbacks/" + string(events.APIPlatform),
		netverifyURL: base + "/callbacks/" + string(events.APINetverify),
	}
	// The secrets as ingest reads them: from the variable or the file
	// its _FILE names (a pod's mounted Secret).
	e := config.New(env.Getenv)
	pathSecret := e.Secret("KYCFLOW_INGEST_PATH_SECRET", "secret path segment of the callback URLs")
	refSecrets := e.Secret("KYCFLOW_INGEST_USER_REFERENCE_SECRETS", "HMAC secrets of signed userReference tokens")
	if err := e.Err(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if s := pathSecret.Value(); s != "" {
		tgt.platformURL += "/" + s
		tgt.netverifyURL += "/" + s
	}
	if s := refSecrets.Value(); s != "" {
		first, _, _ := strings.Cut(s, ",")
		tgt.userRefSecret = []byte(strings.TrimSpace(first))
	}
	platform, netverify, err := split3to1(strFlag(fs, "api"), intFlag(fs, "count"))
	if err != nil {
		return err
	}
	if intFlag(fs, "concurrency") < 1 || floatFlag(fs, "rate") < 0 || intFlag(fs, "duplicates") < 0 {
		return usageError("send: --concurrency must be at least 1, --rate and --duplicates not negative")
	}
	if boolFlag(fs, "samples") && boolFlag(fs, "generate") {
		return usageError("send: --samples and --generate exclude each other")
	}

	sim := strFlag(fs, "simulator")
	if sim == "" && local {
		sim = ri.SimulatorURL
	}
	rep := newSendReport(env.Stdout, boolFlag(fs, "json"))
	switch {
	case boolFlag(fs, "samples"):
		err = sendSamples(ctx, fs, tgt, rep.add)
	case boolFlag(fs, "generate"):
		err = sendGenerated(ctx, env, fs, tgt, platform, netverify, rep.add)
	case sim == "":
		return fmt.Errorf("send: no simulator to send callbacks: %s (kycflow run starts one when no Jumio credentials are set); or use --simulator URL, --generate or --samples", noLocalRun(env, fs))
	default:
		err = sendFromSimulator(ctx, fs, strings.TrimRight(sim, "/"), tgt, platform, netverify, rep.add)
	}
	if ctx.Err() != nil {
		return rep.interrupted()
	}
	if err != nil {
		return err
	}
	return rep.finish(base)
}

// split3to1 splits count transactions between the APIs.
func split3to1(api string, count int) (platform, netverify int, err error) {
	if count < 1 {
		return 0, 0, usageError("send: --count must be at least 1")
	}
	switch api {
	case "platform":
		return count, 0, nil
	case "netverify":
		return 0, count, nil
	case "mixed", "":
		netverify = count / 4
		return count - netverify, netverify, nil
	}
	return 0, 0, usageError("send: --api %q: want platform, netverify or mixed", api)
}

// sendFromSimulator has the simulator create the transactions and send
// their callbacks; each is passed to answered as the simulator reports it.
func sendFromSimulator(ctx context.Context, fs *flag.FlagSet, sim string, tgt sendTarget, platform, netverify int, answered func(sentLine)) error {
	// The simulator answers /generate at once; /callbacks streams a row
	// per callback while it sends them, for as long as that takes.
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(p string, body, out any) error {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, sim+jumiotest.AdminPrefix+p, bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("send: simulator URL: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		stream, _ := out.(func(jumiotest.SentRow))
		c := client
		if stream != nil {
			req.Header.Set("Accept", jumiotest.ContentTypeNDJSON)
			c = &http.Client{Timeout: 0} // bounded by ctx: as long as the sending takes
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("send: no simulator at %s (is kycflow run running?): %w", sim, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("send: simulator %s answered %d: %s", p, resp.StatusCode, strings.TrimSpace(string(msg)))
		}
		if stream == nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		dec := json.NewDecoder(resp.Body)
		for {
			var row jumiotest.SentRow
			if err := dec.Decode(&row); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("send: simulator %s: %w", p, err)
			}
			if row.API == "" {
				return fmt.Errorf("send: simulator: %s", row.Error)
			}
			stream(row)
		}
	}
	var rows []struct{ API, AccountID, ID, Status, Outcome string }
	gen := jumiotest.GenerateOptions{Executions: platform, NetverifyScans: netverify, Mix: strFlag(fs, "mix")}
	if err := call("/generate", gen, &rows); err != nil {
		return err
	}
	outcomes := map[string]string{}
	req := jumiotest.SendRequest{URL: tgt.platformURL, NetverifyURL: tgt.netverifyURL, Rate: floatFlag(fs, "rate"),
		Concurrency: intFlag(fs, "concurrency"), Duplicates: intFlag(fs, "duplicates"), OutOfOrder: boolFlag(fs, "out-of-order"),
		Retries: intFlag(fs, "retries")}
	for _, r := range rows {
		outcomes[r.ID] = r.Outcome
		req.IDs = append(req.IDs, r.ID)
	}
	if tgt.userRefSecret != nil {
		req.UserReferences = map[string]string{}
		for _, r := range rows {
			if r.API == string(events.APIPlatform) {
				tok, err := wire.SignUserReference(tgt.userRefSecret, "", time.Now())
				if err != nil {
					return fmt.Errorf("send: sign userReference: %w", err)
				}
				req.UserReferences[r.ID] = tok
			}
		}
	}
	return call("/callbacks", req, func(s jumiotest.SentRow) {
		answered(sentLine{API: s.API, AccountID: s.AccountID, WorkflowExecutionID: s.Reference, Outcome: outcomes[s.Reference],
			Duplicate: s.Duplicate, Stale: s.Stale, Status: s.Status, Error: s.Error})
	})
}

// sendGenerated generates the transactions here and sends their callbacks
// with hrefs of the configured region, as Jumio would; each is passed to
// answered once answered.
func sendGenerated(ctx context.Context, env Env, fs *flag.FlagSet, tgt sendTarget, platform, netverify int, answered func(sentLine)) error {
	region, err := wire.ParseRegion(cmp.Or(env.Getenv("KYCFLOW_JUMIO_REGION"), string(wire.RegionAMER)))
	if err != nil {
		return fmt.Errorf("send: KYCFLOW_JUMIO_REGION: %w", err)
	}
	mix, err := jumiotest.ParseMix(strFlag(fs, "mix"))
	if err != nil {
		return usageError("send: --mix: %v", err)
	}
	srv, err := jumiotest.NewUnstartedServer(jumiotest.Config{
		Scenario:  jumiotest.Scenario{Seed: uintFlag(fs, "seed"), Mix: mix},
		PublicURL: wire.RegionHosts(region).Retrieval,
	})
	if err != nil {
		return err
	}
	execs, scans, err := srv.AddGenerated(jumiotest.GenerateOptions{Executions: platform, NetverifyScans: netverify})
	if err != nil {
		return err
	}
	// Listening on loopback only sets the hrefs; nobody calls it.
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer srv.Close()
	outcomes := map[string]string{}
	var ids []string
	for _, e := range execs {
		outcomes[e.ID] = e.Outcome
		ids = append(ids, e.ID)
	}
	for _, sc := range scans {
		outcomes[sc.Reference] = sc.Outcome
		ids = append(ids, sc.Reference)
	}
	o := jumiotest.CallbackOptions{URL: tgt.platformURL, NetverifyURL: tgt.netverifyURL, IDs: ids, Rate: floatFlag(fs, "rate"),
		Concurrency: intFlag(fs, "concurrency"), Duplicates: intFlag(fs, "duplicates"), OutOfOrder: boolFlag(fs, "out-of-order"),
		Retries: intFlag(fs, "retries")}
	if tgt.userRefSecret != nil {
		o.UserReference = func(jumiotest.Execution) string {
			tok, _ := wire.SignUserReference(tgt.userRefSecret, "", time.Now())
			return tok
		}
	}
	o.Answered = func(s jumiotest.SentCallback) {
		l := sentLine{API: string(s.API), AccountID: s.AccountID, WorkflowExecutionID: s.Reference, Outcome: outcomes[s.Reference],
			Duplicate: s.Duplicate, Stale: s.Stale, Status: s.Status}
		if s.Err != nil {
			l.Error = s.Err.Error()
		}
		answered(l)
	}
	_, err = srv.SendCallbacks(ctx, o)
	return err
}

// sample is one embedded sample callback.
type sample struct {
	api         events.API
	contentType string
	body        []byte
}

// loadSamples returns the sample callbacks, Platform first.
func loadSamples() ([]sample, error) {
	entries, err := samples.ReadDir("samples")
	if err != nil {
		return nil, err
	}
	var out []sample
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".details.json") {
			continue
		}
		b, err := samples.ReadFile(path.Join("samples", name))
		if err != nil {
			return nil, err
		}
		s := sample{api: events.APIPlatform, contentType: "application/json", body: b}
		if strings.HasSuffix(name, ".form") {
			s = sample{api: events.APINetverify, contentType: "application/x-www-form-urlencoded", body: bytes.TrimSpace(b)}
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].api == events.APIPlatform && out[j].api != events.APIPlatform })
	return out, nil
}

// sampleDetails returns the workflow details of the Platform samples, for
// the simulator of "kycflow run".
func sampleDetails() [][]byte {
	entries, _ := samples.ReadDir("samples")
	var out [][]byte
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".details.json") {
			if b, err := samples.ReadFile(path.Join("samples", e.Name())); err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// sendSamples posts the sample callbacks, passing each to answered once
// answered.
func sendSamples(ctx context.Context, fs *flag.FlagSet, tgt sendTarget, answered func(sentLine)) error {
	list, err := loadSamples()
	if err != nil {
		return err
	}
	var lim *rate.Limiter
	if r := floatFlag(fs, "rate"); r > 0 {
		lim = rate.NewLimiter(rate.Limit(r), 1)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, s := range list {
		if lim != nil {
			if err := lim.Wait(ctx); err != nil {
				return err
			}
		}
		ev, perr := parseSample(s)
		line := sentLine{API: string(s.api), AccountID: ev.AccountID, WorkflowExecutionID: ev.WorkflowExecutionID, Outcome: ev.Status}
		if perr != nil {
			return fmt.Errorf("send: sample: %w", perr)
		}
		target, body := tgt.platformURL, s.body
		if s.api == events.APINetverify {
			target = tgt.netverifyURL
		}
		if s.api == events.APIPlatform && tgt.userRefSecret != nil {
			// As the other modes do: ingest checks a Platform
			// callback's userReference against these secrets.
			if body, err = signedSample(body, tgt.userRefSecret); err != nil {
				return fmt.Errorf("send: sample: %w", err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", s.contentType)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			line.Error = err.Error()
		} else {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			line.Status = resp.StatusCode
		}
		answered(line)
	}
	return nil
}

// signedSample is a Platform sample callback whose userReference is a
// token signed with secret.
func signedSample(body, secret []byte) ([]byte, error) {
	var cb map[string]json.RawMessage
	if err := json.Unmarshal(body, &cb); err != nil {
		return nil, err
	}
	tok, err := wire.SignUserReference(secret, "", time.Now())
	if err != nil {
		return nil, fmt.Errorf("sign userReference: %w", err)
	}
	if cb["userReference"], err = json.Marshal(tok); err != nil {
		return nil, err
	}
	return json.Marshal(cb)
}

// parseSample reads the ids of a sample callback.
func parseSample(s sample) (events.CallbackEvent, error) {
	now := time.Now()
	if s.api == events.APIPlatform {
		cb, err := wire.ParsePlatformCallback(s.body)
		if err != nil {
			return events.CallbackEvent{}, err
		}
		return cb.Event("", now, nil), nil
	}
	v, err := url.ParseQuery(string(s.body))
	if err != nil {
		return events.CallbackEvent{}, err
	}
	m, err := wire.ParseNetverifyIDs(v)
	if err != nil {
		return events.CallbackEvent{}, err
	}
	return m.Event("", now, ""), nil
}

// sendReport prints each callback as it is answered, then the summary;
// interrupted, it says how many were sent.
type sendReport struct {
	w      io.Writer
	json   bool
	enc    *json.Encoder
	counts map[int]int // answers by status; 0: none came
	n      int
	failed int
}

func newSendReport(w io.Writer, asJSON bool) *sendReport {
	return &sendReport{w: w, json: asJSON, enc: json.NewEncoder(w), counts: map[int]int{}}
}

// add prints one callback's line: a JSON object, or the answer, the API,
// the ids and the outcome.
func (r *sendReport) add(l sentLine) {
	r.n++
	r.counts[l.Status]++
	if l.Status != http.StatusOK {
		r.failed++
	}
	if r.json {
		_ = r.enc.Encode(l)
		return
	}
	answer := fmt.Sprintf("%d", l.Status)
	if l.Error != "" {
		answer = "error"
	}
	what := ""
	switch {
	case l.Duplicate:
		what = " (repeat)"
	case l.Stale:
		what = " (stale repeat)"
	}
	fmt.Fprintf(r.w, "%-5s %-9s %-36s %-36s %s%s\n", answer, l.API, cmp.Or(l.AccountID, events.LegacyAccount), l.WorkflowExecutionID, l.Outcome, what)
}

// answers sums the answers up: "9× 200, 1× 503".
func (r *sendReport) answers() string {
	statuses := slices.Sorted(maps.Keys(r.counts))
	parts := make([]string, 0, len(statuses))
	for _, s := range statuses {
		label := fmt.Sprintf("%d× %d", r.counts[s], s)
		if s == 0 {
			label = fmt.Sprintf("%d× no answer", r.counts[s])
		}
		parts = append(parts, label)
	}
	return strings.Join(parts, ", ")
}

// finish prints the summary and fails unless every callback was stored.
func (r *sendReport) finish(base string) error {
	if !r.json {
		fmt.Fprintf(r.w, "sent %s to %s: %s\n", count(r.n, "callback"), base, r.answers())
	}
	if r.failed > 0 {
		hint := ""
		if r.counts[http.StatusNotFound] == r.failed {
			// A wrong or missing secret segment is answered 404, like
			// any path that is not a callback URL.
			hint = "; 404: no callback URL at that path: when ingest has a secret path segment, set KYCFLOW_INGEST_PATH_SECRET here too"
		}
		return fmt.Errorf("send: %d of %d callbacks were not stored (see the status column; 4xx bodies are RFC 9457 problems)%s", r.failed, r.n, hint)
	}
	return nil
}

// interrupted is the error of a send stopped by Ctrl-C: how many
// callbacks were answered, and how.
func (r *sendReport) interrupted() error {
	if r.n == 0 {
		return fmt.Errorf("send: interrupted before any callback was answered")
	}
	return fmt.Errorf("send: interrupted after %s: %s (the rest were not sent)", count(r.n, "callback"), r.answers())
}
