package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// errUsage marks bad flags (exit code 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

type options struct {
	listen, publicURL                 string
	seed                              uint64
	executions, accounts, netverify   int
	mix, keys, countries              string
	budget, tokenBudget               float64
	budgetBurst                       int
	tokenLifetime, latency            time.Duration
	revokeEvery                       time.Duration
	detailsDir                        string
	completeAfter                     time.Duration
	failNext, failStatus, dropNext    int
	failEndpoint                      string
	notReady                          int
	allowNoUserAgent                  bool
	callbackURL, callbackNetverifyURL string
	callbackRate                      float64
	callbackDelay                     time.Duration
	callbackDuplicates                int
	callbackOutOfOrder                bool
	callbackDrop                      float64
	acquiredCallbacks                 bool
	health                            string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("jumiosim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8090", "listen address (\":8090\" for every interface, as in a container)")
	fs.StringVar(&o.publicURL, "public-url", "", "base URL put into hrefs and printed, when clients reach the simulator by another name")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated executions (the same seed gives the same executions)")
	fs.IntVar(&o.executions, "executions", 100, "number of generated Platform workflow executions")
	fs.IntVar(&o.accounts, "accounts", 0, "number of distinct accounts (0: one per execution)")
	fs.IntVar(&o.netverify, "netverify", 20, "number of generated Netverify transactions")
	fs.StringVar(&o.mix, "mix", "passed=70,warning=10,rejected=10,session_expired=5,token_expired=5", "outcome weights of Platform executions")
	fs.StringVar(&o.keys, "workflow-keys", strings.Join(jumiotest.DefaultWorkflowKeys, ","), "workflow definition keys to spread executions over")
	fs.StringVar(&o.countries, "countries", strings.Join(jumiotest.DefaultCountries, ","), "ISO alpha-3 issuing countries to spread executions over")
	fs.Float64Var(&o.budget, "budget", 15, "request budget per tenant in requests/s (Jumio: 15); 0 for none")
	fs.IntVar(&o.budgetBurst, "budget-burst", 0, "requests the budget lets through at once (0: the budget rounded up)")
	fs.Float64Var(&o.tokenBudget, "token-budget", 10, "token requests/s per tenant (Jumio: 10); 0 for none")
	fs.DurationVar(&o.tokenLifetime, "token-lifetime", time.Hour, "lifetime of issued OAuth2 tokens")
	fs.DurationVar(&o.revokeEvery, "revoke-every", 0, "revoke every issued token at this interval, as POST /_jumiotest/revoke does (0: never)")
	fs.StringVar(&o.detailsDir, "details", "", "also serve an execution for every *.json Platform workflow details file in this directory (fixtures; -executions 0 to serve only these)")
	fs.DurationVar(&o.latency, "latency", 0, "latency added to every response")
	fs.DurationVar(&o.completeAfter, "complete-after", 5*time.Second, "time until a transaction initiated through the Account API completes and its callback is sent (0: never)")
	fs.IntVar(&o.failNext, "fail-next", 0, "answer the next N requests with -fail-status")
	fs.IntVar(&o.failStatus, "fail-status", http.StatusServiceUnavailable, "status of -fail-next answers")
	fs.StringVar(&o.failEndpoint, "fail-endpoint", "", "endpoint -fail-next and -drop-next apply to (for example platform.details); default every endpoint but token")
	fs.IntVar(&o.dropNext, "drop-next", 0, "close the connection of the next N requests without an answer")
	fs.IntVar(&o.notReady, "not-ready", 0, "answer 404 to the first N retrieval requests of every execution, as while Jumio is still processing")
	fs.BoolVar(&o.allowNoUserAgent, "allow-missing-user-agent", false, "serve requests without a User-Agent (Jumio answers 403)")
	fs.StringVar(&o.callbackURL, "callback-url", "", "post the Platform callbacks to this URL, kycflow ingest's http://HOST:PORT/callbacks/platform (also the callback target of initiated transactions); KYCFLOW_INGEST_PATH_SECRET, when set, is appended as the last path segment")
	fs.StringVar(&o.callbackNetverifyURL, "callback-netverify-url", "", "post the Netverify callbacks to this URL; default: derived from a kycflow -callback-url (…/callbacks/netverify), else none are sent")
	fs.Float64Var(&o.callbackRate, "callback-rate", 10, "callbacks per second (0: as fast as possible)")
	fs.DurationVar(&o.callbackDelay, "callback-delay", 2*time.Second, "wait before posting callbacks (let the receiver start)")
	fs.IntVar(&o.callbackDuplicates, "callback-duplicates", 0, "send every callback N more times, unchanged")
	fs.BoolVar(&o.callbackOutOfOrder, "callback-out-of-order", false, "follow every callback with a repeat carrying an older callbackSentAt")
	fs.Float64Var(&o.callbackDrop, "callback-drop", 0, "share (0 to 1) of the callbacks of initiated transactions dropped, as when Jumio gives up; POST /_jumiotest/dropped posts them late")
	fs.BoolVar(&o.acquiredCallbacks, "acquired-callbacks", false, "also post an ACQUIRED callback when an API-channel transaction is finalized")
	fs.StringVar(&o.health, "health", "UP", "what the status endpoint (GET /) answers: UP, DEGRADED, DOWN, or component=status pairs such as retrieval=DOWN; POST /_jumiotest/health changes it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.revokeEvery < 0 {
		return o, fmt.Errorf("%w: -revoke-every must not be negative", errUsage)
	}
	if !(o.callbackDrop >= 0 && o.callbackDrop <= 1) {
		return o, fmt.Errorf("%w: -callback-drop must be between 0 and 1", errUsage)
	}
	if _, err := parseHealth(o.health); err != nil {
		return o, fmt.Errorf("%w: -health: %w", errUsage, err)
	}
	if o.failEndpoint != "" && !isEndpoint(o.failEndpoint) {
		return o, fmt.Errorf("%w: unknown endpoint %q", errUsage, o.failEndpoint)
	}
	return o, nil
}

func isEndpoint(s string) bool {
	for _, ep := range jumio.Endpoints {
		if string(ep) == s {
			return true
		}
	}
	return false
}

func split(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// run serves the simulator until ctx ends. Credentials come from the
// environment (the same variables the kycflow services read), never
// from flags.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	mix, err := jumiotest.ParseMix(o.mix)
	if err != nil {
		return fmt.Errorf("%w: -mix: %w", errUsage, err)
	}
	env := config.New(getenv)
	tenant := jumiotest.Tenant{
		ClientID:     env.String("KYCFLOW_JUMIO_CLIENT_ID", jumiotest.DefaultClientID, "OAuth2 client id the simulator accepts"),
		ClientSecret: env.Secret("KYCFLOW_JUMIO_CLIENT_SECRET", "OAuth2 client secret the simulator accepts").Value(),
		APIToken:     env.Secret("KYCFLOW_JUMIO_NETVERIFY_API_TOKEN", "API token the simulator accepts (Netverify, Basic)").Value(),
		APISecret:    env.Secret("KYCFLOW_JUMIO_NETVERIFY_API_SECRET", "API secret the simulator accepts").Value(),
	}
	pathSecret := env.Secret("KYCFLOW_INGEST_PATH_SECRET", "secret last path segment appended to the callback URLs, as ingest expects it")
	if err := env.Err(); err != nil {
		return err
	}
	cb, err := resolveCallbacks(o, pathSecret.Value())
	if err != nil {
		return err
	}
	srv, err := jumiotest.NewUnstartedServer(jumiotest.Config{
		Tenants:               []jumiotest.Tenant{tenant},
		TokenLifetime:         o.tokenLifetime,
		Budget:                o.budget,
		BudgetBurst:           o.budgetBurst,
		TokenBudget:           o.tokenBudget,
		Latency:               o.latency,
		AllowMissingUserAgent: o.allowNoUserAgent,
		CompleteAfter:         o.completeAfter,
		CallbackURL:           cb.platform,
		CallbackDrop:          o.callbackDrop,
		AcquiredCallbacks:     o.acquiredCallbacks,
		PublicURL:             o.publicURL,
		Scenario: jumiotest.Scenario{
			Seed: o.seed, Executions: o.executions, Accounts: o.accounts, Mix: mix,
			WorkflowKeys: split(o.keys), Countries: split(o.countries), NetverifyScans: o.netverify,
		},
	})
	if err != nil {
		return err
	}
	loaded := 0
	if o.detailsDir != "" {
		if loaded, err = loadDetails(srv, o.detailsDir); err != nil {
			return err
		}
	}
	var eps []jumio.Endpoint
	if o.failEndpoint != "" {
		eps = []jumio.Endpoint{jumio.Endpoint(o.failEndpoint)}
	}
	if o.failNext > 0 {
		srv.Inject(jumiotest.Fault{Endpoints: eps, Count: o.failNext, Status: o.failStatus})
	}
	if o.dropNext > 0 {
		srv.Inject(jumiotest.Fault{Endpoints: eps, Count: o.dropNext, Drop: true})
	}
	if o.notReady > 0 {
		for _, e := range srv.Executions() {
			srv.NotReady(e.ID, o.notReady, time.Time{})
		}
		for _, sc := range srv.NetverifyScans() {
			srv.NotReady(sc.Reference, o.notReady, time.Time{})
		}
	}
	health, _ := parseHealth(o.health)
	srv.SetHealth(health)
	if err := srv.Start(o.listen); err != nil {
		return err
	}
	defer srv.Close()
	printServing(stdout, srv, o, loaded, tenant, getenv)
	cb.print(stdout, len(srv.Executions()), len(srv.NetverifyScans()))

	var wg sync.WaitGroup
	if cb.platform != "" || cb.netverify != "" {
		wg.Go(func() { sendCallbacks(ctx, stdout, srv, o, cb) })
	}
	if o.revokeEvery > 0 {
		wg.Go(func() { revokeTokens(ctx, srv, o.revokeEvery) })
	}
	<-ctx.Done()
	wg.Wait()
	fmt.Fprintln(stdout, "jumiosim: stopping")
	return nil
}

func printServing(w io.Writer, srv *jumiotest.Server, o options, loaded int, t jumiotest.Tenant, getenv func(string) string) {
	u := srv.URL()
	secretHint := func(key string) string {
		if getenv(key) != "" || getenv(key+"_FILE") != "" {
			return "from " + key
		}
		return "the development default (set " + key + ")"
	}
	budget := "none"
	if o.budget > 0 {
		budget = fmt.Sprintf("%g requests/s per tenant, tokens %g/s", o.budget, o.tokenBudget)
	}
	fmt.Fprintf(w, "jumiosim: serving a Jumio simulator on %s\n", u)
	fmt.Fprintf(w, "  auth       %s%s\n", u, jumio.PathToken)
	fmt.Fprintf(w, "  account    %s%s\n", u, jumio.PathAccounts)
	fmt.Fprintf(w, "  retrieval  %s%s/{accountId}/workflow-executions/{workflowExecutionId}\n", u, jumio.PathAccounts)
	fmt.Fprintf(w, "  netverify  %s%s/{scanReference}\n", u, jumio.PathNetverifyScans)
	fmt.Fprintf(w, "  api        %s%s/{accountId}/workflow-executions/{workflowExecutionId}[/credentials/{credentialId}/parts/{classifier}]\n", u, jumio.PathAccounts)
	fmt.Fprintf(w, "  status     %s/ (%s)\n", u, srv.CurrentHealth().Status)
	fmt.Fprintf(w, "  control    %s%s/counts, /executions, /faults, /revoke, /health, /callback-drop, /dropped\n", u, jumiotest.AdminPrefix)
	fmt.Fprintf(w, "  OAuth2 client %q, secret %s\n", t.ClientID, secretHint("KYCFLOW_JUMIO_CLIENT_SECRET"))
	fmt.Fprintf(w, "  Netverify API token and secret %s\n", secretHint("KYCFLOW_JUMIO_NETVERIFY_API_SECRET"))
	fmt.Fprintf(w, "  executions: %d Platform (seed %d, mix %s), %d Netverify\n", len(srv.Executions()), o.seed, o.mix, len(srv.NetverifyScans()))
	if o.detailsDir != "" {
		fmt.Fprintf(w, "  details: %d executions from %s\n", loaded, o.detailsDir)
	}
	revoke := "never"
	if o.revokeEvery > 0 {
		revoke = "every " + o.revokeEvery.String()
	}
	fmt.Fprintf(w, "  budget: %s; token lifetime %s, revoked %s; latency %s\n", budget, o.tokenLifetime, revoke, o.latency)
	fmt.Fprintf(w, "  clients: KYCFLOW_JUMIO_AUTH_URL=%[1]s KYCFLOW_JUMIO_ACCOUNT_URL=%[1]s KYCFLOW_JUMIO_API_URL=%[1]s KYCFLOW_JUMIO_RETRIEVAL_URL=%[1]s KYCFLOW_JUMIO_NETVERIFY_URL=%[1]s KYCFLOW_JUMIO_STATUS_URL=%[1]s\n", u)
}

// revokeTokens revokes every issued token at each tick until ctx ends.
func revokeTokens(ctx context.Context, srv *jumiotest.Server, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			srv.RevokeTokens()
		}
	}
}

func sendCallbacks(ctx context.Context, w io.Writer, srv *jumiotest.Server, o options, cb callbackTargets) {
	t := time.NewTimer(o.callbackDelay)
	select {
	case <-ctx.Done():
		t.Stop()
		return
	case <-t.C:
	}
	sent, err := srv.SendCallbacks(ctx, jumiotest.CallbackOptions{
		URL: cmp.Or(cb.platform, cb.netverify), NetverifyURL: cmp.Or(cb.netverify, cb.platform),
		SkipPlatform: cb.platform == "", SkipNetverify: cb.netverify == "",
		Rate: o.callbackRate, Duplicates: o.callbackDuplicates, OutOfOrder: o.callbackOutOfOrder, Concurrency: 4,
	})
	statuses := map[string]int{}
	for _, s := range sent {
		if s.Err != nil {
			statuses[string(s.API)+" error"]++
		} else {
			statuses[string(s.API)+" "+fmt.Sprint(s.Status)]++
		}
	}
	fmt.Fprintf(w, "jumiosim: sent %d callbacks: %v\n", len(sent), statuses)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(w, "jumiosim: callbacks:", err)
	}
}

// parseHealth reads -health: one status for everything ("DOWN"), or
// component=status pairs ("retrieval=DOWN,processing=DEGRADED"), the
// overall status then being the worst of them.
func parseHealth(s string) (wire.Health, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	valid := func(v string) bool { return v == wire.HealthUp || v == wire.HealthDegraded || v == wire.HealthDown }
	if !strings.Contains(s, "=") {
		if !valid(s) {
			return wire.Health{}, fmt.Errorf("%q is not UP, DEGRADED or DOWN", s)
		}
		return jumiotest.Health(s, nil), nil
	}
	overall, components := wire.HealthUp, map[string]string{}
	rank := map[string]int{wire.HealthUp: 0, wire.HealthDegraded: 1, wire.HealthDown: 2}
	for _, item := range split(s) {
		k, v, _ := strings.Cut(item, "=")
		if k == "" || !valid(v) {
			return wire.Health{}, fmt.Errorf("%q is not component=UP|DEGRADED|DOWN", item)
		}
		components[strings.ToLower(k)] = v
		if rank[v] > rank[overall] {
			overall = v
		}
	}
	if overall == wire.HealthDown {
		overall = wire.HealthDegraded // some components still work
	}
	h := jumiotest.Health(wire.HealthUp, components)
	h.Status = wire.String(overall)
	return h, nil
}
