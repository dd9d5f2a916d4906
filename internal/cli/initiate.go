package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func init() {
	register(&Command{
		Name:    "initiate",
		Summary: "start a Jumio Platform transaction for a workflow and print its web link",
		Usage:   "--workflow-key KEY [flags]",
		Description: `Creates an account and a workflow execution through Jumio's Account API
(or, with --account, a new workflow execution on an existing account) and
prints the ids and the web link to send the end user to.

The transaction is announced on JUMIO_EXECUTIONS (events.InitiatedEvent)
to the NATS server of --nats-url, KYCFLOW_NATS_URL or the local kycflow
run, so that its callback is reconciled if Jumio's never comes.

The userReference is signed as ingest verifies it: with
KYCFLOW_INGEST_USER_REFERENCE_SECRETS set it is
wire.SignUserReference(first secret, --user-id, now), so that the callback
passes ingest's check; otherwise it is --user-id as given (or none). Use an
opaque id, never personal data: Jumio echoes it in every callback.

With --front (and --back, --face, --prepared-data) it sends the images
itself through Jumio's API channel instead: each file is checked first
(JPEG or PNG, at most 5 MB and 8000×8000 pixels), then uploaded to the
credential's parts in order and the execution finalized, so that Jumio
processes it and calls back; no web link is needed.

Jumio credentials and region come from the KYCFLOW_JUMIO_* variables.
Without credentials it uses the simulator of the local kycflow run, whose
transactions complete a few seconds later and call back that run's ingest.`,
		Example: `  kycflow initiate --workflow-key 10011
  kycflow initiate --workflow-key 10013 --user-id cust-4711 --reference order-2026-0042 --locale de
  kycflow initiate --workflow-key 10011 --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff --json
  kycflow initiate --workflow-key 10011 --front id-front.jpg --back id-back.jpg --face selfie.jpg`,
		Flags: func(fs *flag.FlagSet) {
			fs.Int("workflow-key", 0, "workflow definition key (required; see the Jumio Portal)")
			fs.String("account", "", "existing Jumio account id: start a new workflow execution on it")
			fs.String("reference", "", "customerInternalReference, an opaque id of yours (default a random kycflow-… id)")
			fs.String("user-id", "", "opaque id of the end user, put into the (signed) userReference")
			fs.String("callback-url", "", "callback URL of this transaction (default the Portal's)")
			fs.String("token-lifetime", "", "how long the link works: 30m, 2h, 7d (Jumio: 5m to 60d; default the Portal's)")
			fs.String("locale", "", "language of the web client (en, de, fr, …)")
			fs.String("success-url", "", "where the web client sends the user after success")
			fs.String("error-url", "", "where the web client sends the user after an error")
			fs.String("simulator", "", "Jumio simulator to use without credentials (default the local kycflow run's)")
			apiChannelFlags(fs)
			natsFlag(fs)
			fs.Bool("json", false, "print Jumio's answer as JSON")
		},
		Run: runInitiate,
	})
}

func runInitiate(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("initiate: unexpected argument %q", args[0])
	}
	key := intFlag(fs, "workflow-key")
	if key <= 0 {
		return usageError("initiate: --workflow-key is required")
	}
	e := config.New(env.Getenv)
	jc := jumioconfig.LoadConfig(e)
	refSecrets := e.Secret("KYCFLOW_INGEST_USER_REFERENCE_SECRETS", "HMAC secrets of signed userReference tokens")
	if err := e.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	target := "Jumio (" + string(jc.Region) + ")"
	if !jumioconfig.HasCredentials(jc) {
		sim := strFlag(fs, "simulator")
		if ri, ok := localRun(env, fs); ok && sim == "" {
			sim = ri.SimulatorURL
		}
		if sim == "" {
			return fmt.Errorf("initiate: no Jumio credentials (KYCFLOW_JUMIO_CLIENT_ID and KYCFLOW_JUMIO_CLIENT_SECRET) and no local simulator: %s", noLocalRun(env, fs))
		}
		sim = strings.TrimRight(sim, "/")
		jc.Hosts = wire.Hosts{Auth: sim, Account: sim, API: sim, Retrieval: sim, Netverify: sim, Status: sim}
		jc.ClientID, jc.ClientSecret = jumiotest.DefaultClientID, jumiotest.DefaultClientSecret
		target = "the simulator at " + sim
	}
	client, err := jumio.NewClient(jc)
	if err != nil {
		return fmt.Errorf("initiate: %w", err)
	}
	defer client.CloseIdleConnections()

	req := wire.AccountRequest{
		CustomerInternalReference: strFlag(fs, "reference"),
		WorkflowDefinition:        wire.WorkflowDefinition{Key: key},
		CallbackURL:               strFlag(fs, "callback-url"),
		TokenLifetime:             strFlag(fs, "token-lifetime"),
	}
	if req.CustomerInternalReference == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		req.CustomerInternalReference = "kycflow-" + hex.EncodeToString(b[:])
	}
	if l, s, er := strFlag(fs, "locale"), strFlag(fs, "success-url"), strFlag(fs, "error-url"); l != "" || s != "" || er != "" {
		req.Web = &wire.WebSettings{Locale: l, SuccessURL: s, ErrorURL: er}
	}
	userID := strFlag(fs, "user-id")
	signed := false
	if refSecrets.IsSet() {
		first, _, _ := strings.Cut(refSecrets.Value(), ",")
		tok, err := wire.SignUserReference([]byte(strings.TrimSpace(first)), userID, time.Now())
		if err != nil {
			return fmt.Errorf("initiate: --user-id: %w", err)
		}
		req.UserReference, signed = tok, true
	} else {
		req.UserReference = userID
	}
	if err := req.Validate(); err != nil {
		return usageError("initiate: %v", err)
	}
	acq, err := readAcquisition(fs)
	if err != nil {
		return fmt.Errorf("initiate: %w", err)
	}

	var resp *wire.AccountResponse
	if account := strFlag(fs, "account"); account != "" {
		resp, err = client.UpdateAccount(ctx, account, req)
	} else {
		resp, err = client.CreateAccount(ctx, req)
	}
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("initiate: %s: %w", target, err)
	}
	var channel string
	if acq != nil {
		var b strings.Builder
		if err := acquire(ctx, &b, client, resp, *acq); err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return fmt.Errorf("initiate: API channel of account %s workflow execution %s: %w", resp.Account.ID, resp.WorkflowExecution.ID, err)
		}
		channel = b.String()
	}
	if boolFlag(fs, "json") {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(resp); err != nil {
			return err
		}
		return announce(ctx, env.Stderr, env, fs, resp, req, "kycflow initiate")
	}
	fmt.Fprintf(env.Stdout, "transaction initiated on %s\n", target)
	fmt.Fprintf(env.Stdout, "  account             %s\n", resp.Account.ID)
	fmt.Fprintf(env.Stdout, "  workflow execution  %s\n", resp.WorkflowExecution.ID)
	fmt.Fprintf(env.Stdout, "  workflow key        %d\n", key)
	fmt.Fprintf(env.Stdout, "  reference           %s\n", req.CustomerInternalReference)
	switch {
	case signed:
		fmt.Fprintf(env.Stdout, "  userReference       signed with KYCFLOW_INGEST_USER_REFERENCE_SECRETS (user id %q)\n", userID)
	case userID != "":
		fmt.Fprintf(env.Stdout, "  userReference       %s (not signed: KYCFLOW_INGEST_USER_REFERENCE_SECRETS is unset)\n", userID)
	}
	if channel != "" {
		fmt.Fprint(env.Stdout, channel)
	} else if resp.Web != nil && resp.Web.Href != "" {
		fmt.Fprintf(env.Stdout, "  web link            %s\n", resp.Web.Href)
	}
	return announce(ctx, env.Stdout, env, fs, resp, req, "kycflow initiate")
}
