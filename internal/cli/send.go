package cli

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

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
prints one line per callback: the answer, the API, the ids and the outcome
Jumio would report. It exits 1 when a callback was not stored.

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
	if s := env.Getenv("KYCFLOW_INGEST_PATH_SECRET"); s != "" {
		tgt.platformURL += "/" + s
		tgt.netverifyURL += "/" + s
	}
	if s := env.Getenv("KYCFLOW_INGEST_USER_REFERENCE_SECRETS"); s != "" {
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

	var lines []sentLine
	switch {
	case boolFlag(fs, "samples"):
		lines, err = sendSamples(ctx, fs, tgt)
	case boolFlag(fs, "generate"):
		lines, err = sendGenerated(ctx, env, fs, tgt, platform, netverify)
	default:
		sim := strFlag(fs, "simulator")
		if sim == "" && local {
			sim = ri.SimulatorURL
		}
		if sim == "" {
			return fmt.Errorf("send: no simulator to send callbacks: %s (kycflow run starts one when no Jumio credentials are set); or use --simulator URL, --generate or --samples", noLocalRun(env, fs))
		}
		lines, err = sendFromSimulator(ctx, fs, strings.TrimRight(sim, "/"), tgt, platform, netverify)
	}
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	return reportSent(env.Stdout, lines, boolFlag(fs, "json"), base)
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
// their callbacks.
func sendFromSimulator(ctx context.Context, fs *flag.FlagSet, sim string, tgt sendTarget, platform, netverify int) ([]sentLine, error) {
	// The simulator answers at once (it sends the callbacks afterwards).
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
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("send: no simulator at %s (is kycflow run running?): %w", sim, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("send: simulator %s answered %d: %s", p, resp.StatusCode, strings.TrimSpace(string(msg)))
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var rows []struct{ API, AccountID, ID, Status, Outcome string }
	gen := jumiotest.GenerateOptions{Executions: platform, NetverifyScans: netverify, Mix: strFlag(fs, "mix")}
	if err := call("/generate", gen, &rows); err != nil {
		return nil, err
	}
	outcomes := map[string]string{}
	req := jumiotest.SendRequest{URL: tgt.platformURL, NetverifyURL: tgt.netverifyURL, Rate: floatFlag(fs, "rate"),
		Concurrency: intFlag(fs, "concurrency"), Duplicates: intFlag(fs, "duplicates"), OutOfOrder: boolFlag(fs, "out-of-order")}
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
					return nil, fmt.Errorf("send: sign userReference: %w", err)
				}
				req.UserReferences[r.ID] = tok
			}
		}
	}
	var sent []jumiotest.SentRow
	if err := call("/callbacks", req, &sent); err != nil {
		return nil, err
	}
	lines := make([]sentLine, len(sent))
	for i, s := range sent {
		lines[i] = sentLine{API: s.API, AccountID: s.AccountID, WorkflowExecutionID: s.Reference, Outcome: outcomes[s.Reference],
			Duplicate: s.Duplicate, Stale: s.Stale, Status: s.Status, Error: s.Error}
	}
	return lines, nil
}

// sendGenerated generates the transactions here and sends their callbacks
// with hrefs of the configured region, as Jumio would.
func sendGenerated(ctx context.Context, env Env, fs *flag.FlagSet, tgt sendTarget, platform, netverify int) ([]sentLine, error) {
	region, err := wire.ParseRegion(cmp.Or(env.Getenv("KYCFLOW_JUMIO_REGION"), string(wire.RegionAMER)))
	if err != nil {
		return nil, fmt.Errorf("send: KYCFLOW_JUMIO_REGION: %w", err)
	}
	mix, err := jumiotest.ParseMix(strFlag(fs, "mix"))
	if err != nil {
		return nil, usageError("send: --mix: %v", err)
	}
	srv, err := jumiotest.NewUnstartedServer(jumiotest.Config{
		Scenario:  jumiotest.Scenario{Seed: uintFlag(fs, "seed"), Mix: mix},
		PublicURL: wire.RegionHosts(region).Retrieval,
	})
	if err != nil {
		return nil, err
	}
	execs, scans, err := srv.AddGenerated(jumiotest.GenerateOptions{Executions: platform, NetverifyScans: netverify})
	if err != nil {
		return nil, err
	}
	// Listening on loopback only sets the hrefs; nobody calls it.
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
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
		Concurrency: intFlag(fs, "concurrency"), Duplicates: intFlag(fs, "duplicates"), OutOfOrder: boolFlag(fs, "out-of-order")}
	if tgt.userRefSecret != nil {
		o.UserReference = func(jumiotest.Execution) string {
			tok, _ := wire.SignUserReference(tgt.userRefSecret, "", time.Now())
			return tok
		}
	}
	sent, err := srv.SendCallbacks(ctx, o)
	lines := make([]sentLine, len(sent))
	for i, s := range sent {
		lines[i] = sentLine{API: string(s.API), AccountID: s.AccountID, WorkflowExecutionID: s.Reference, Outcome: outcomes[s.Reference],
			Duplicate: s.Duplicate, Stale: s.Stale, Status: s.Status}
		if s.Err != nil {
			lines[i].Error = s.Err.Error()
		}
	}
	return lines, err
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

func sendSamples(ctx context.Context, fs *flag.FlagSet, tgt sendTarget) ([]sentLine, error) {
	list, err := loadSamples()
	if err != nil {
		return nil, err
	}
	var lim *rate.Limiter
	if r := floatFlag(fs, "rate"); r > 0 {
		lim = rate.NewLimiter(rate.Limit(r), 1)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var lines []sentLine
	for _, s := range list {
		if lim != nil {
			if err := lim.Wait(ctx); err != nil {
				return lines, err
			}
		}
		ev, perr := parseSample(s)
		line := sentLine{API: string(s.api), AccountID: ev.AccountID, WorkflowExecutionID: ev.WorkflowExecutionID, Outcome: ev.Status}
		if perr != nil {
			return lines, fmt.Errorf("send: sample: %w", perr)
		}
		target := tgt.platformURL
		if s.api == events.APINetverify {
			target = tgt.netverifyURL
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(s.body))
		if err != nil {
			return lines, err
		}
		req.Header.Set("Content-Type", s.contentType)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return lines, ctx.Err()
			}
			line.Error = err.Error()
		} else {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			line.Status = resp.StatusCode
		}
		lines = append(lines, line)
	}
	return lines, nil
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

// reportSent prints what was sent and fails unless everything was stored.
func reportSent(w io.Writer, lines []sentLine, asJSON bool, base string) error {
	enc := json.NewEncoder(w)
	counts := map[int]int{}
	failed := 0
	for _, l := range lines {
		counts[l.Status]++
		if l.Status != http.StatusOK {
			failed++
		}
		if asJSON {
			if err := enc.Encode(l); err != nil {
				return err
			}
			continue
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
		fmt.Fprintf(w, "%-5s %-9s %-36s %-36s %s%s\n", answer, l.API, cmp.Or(l.AccountID, events.LegacyAccount), l.WorkflowExecutionID, l.Outcome, what)
	}
	if !asJSON {
		var parts []string
		statuses := make([]int, 0, len(counts))
		for s := range counts {
			statuses = append(statuses, s)
		}
		sort.Ints(statuses)
		for _, s := range statuses {
			label := fmt.Sprintf("%d× %d", counts[s], s)
			if s == 0 {
				label = fmt.Sprintf("%d× no answer", counts[s])
			}
			parts = append(parts, label)
		}
		fmt.Fprintf(w, "sent %d callbacks to %s: %s\n", len(lines), base, strings.Join(parts, ", "))
	}
	if failed > 0 {
		return fmt.Errorf("send: %d of %d callbacks were not stored (see the status column; 4xx bodies are RFC 9457 problems)", failed, len(lines))
	}
	return nil
}
