package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/pkg/events"
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

// runInitiate picks the Jumio to talk to (the local simulator without
// credentials), builds the account request with a signed userReference,
// reads and checks the API channel's files, sends the request, sends the
// files through the API channel when there are any, prints the ids and the
// web link, and announces the execution for reconciliation.
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
		return err
	}
	jc, target, err := initiateTarget(env, fs, jc)
	if err != nil {
		return fmt.Errorf("initiate: %w", err)
	}
	client, err := jumio.NewClient(jc)
	if err != nil {
		return fmt.Errorf("initiate: %w", err)
	}
	defer client.CloseIdleConnections()
	ir, err := initiateRequest(fs, key, refSecrets)
	if err != nil {
		return err
	}
	acq, err := readAcquisition(fs)
	if err != nil {
		return fmt.Errorf("initiate: %w", err)
	}
	var resp *wire.AccountResponse
	if account := strFlag(fs, "account"); account != "" {
		resp, err = client.UpdateAccount(ctx, account, ir.req)
	} else {
		resp, err = client.CreateAccount(ctx, ir.req)
	}
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("initiate: %s: %w", target, err)
	}
	var channel strings.Builder
	if acq != nil {
		if err := acquire(ctx, &channel, client, resp, *acq); err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return announceUnfinished(ctx, env, fs, resp, ir.req, "kycflow initiate",
				fmt.Errorf("initiate: API channel of account %s workflow execution %s: %w", resp.Account.ID, resp.WorkflowExecution.ID, err))
		}
	}
	if boolFlag(fs, "json") {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(resp); err != nil {
			return err
		}
		return announce(ctx, env.Stderr, env, fs, resp, ir.req, "kycflow initiate")
	}
	printInitiated(env.Stdout, target, ir, resp)
	fmt.Fprint(env.Stdout, channel.String())
	return announce(ctx, env.Stdout, env, fs, resp, ir.req, "kycflow initiate")
}

// initiateTarget returns the client configuration and says which Jumio it
// reaches: Jumio with credentials, else the simulator of --simulator or of
// the local kycflow run, with its development credentials. The operator
// commands that talk to Jumio use it (jumioClient).
func initiateTarget(env Env, fs *flag.FlagSet, jc jumio.Config) (jumio.Config, string, error) {
	if jumioconfig.HasCredentials(jc) {
		return jc, "Jumio (" + string(jc.Region) + ")", nil
	}
	sim := strFlag(fs, "simulator")
	if ri, ok := localRun(env, fs); ok && sim == "" {
		sim = ri.SimulatorURL
	}
	if sim == "" {
		return jc, "", fmt.Errorf("no Jumio credentials (KYCFLOW_JUMIO_CLIENT_ID and KYCFLOW_JUMIO_CLIENT_SECRET) and no local simulator: %s", noLocalRun(env, fs))
	}
	sim = strings.TrimRight(sim, "/")
	jc.Hosts = wire.Hosts{Auth: sim, Account: sim, API: sim, Retrieval: sim, Netverify: sim, Status: sim}
	jc.ClientID, jc.ClientSecret = jumiotest.DefaultClientID, jumiotest.DefaultClientSecret
	return jc, "the simulator at " + sim, nil
}

// initiation is the account request and what went into its
// userReference.
type initiation struct {
	req    wire.AccountRequest
	key    int
	userID string
	signed bool
}

// initiateRequest builds the account request from the flags: a reference
// made up when none is given, the userReference signed with the first of
// KYCFLOW_INGEST_USER_REFERENCE_SECRETS when set.
func initiateRequest(fs *flag.FlagSet, key int, refSecrets config.Secret) (initiation, error) {
	ir := initiation{key: key, userID: strFlag(fs, "user-id")}
	if lt := strFlag(fs, "token-lifetime"); lt != "" {
		// Checked before Jumio is asked: a transaction created with a
		// lifetime kycflow cannot announce would never be reconciled.
		if d, err := events.ParseTokenLifetime(lt); err != nil || d < 5*time.Minute || d > 60*24*time.Hour {
			return ir, usageError("initiate: --token-lifetime %q: give 5m to 60d, like 30m, 2h or 7d", lt)
		}
	}
	ir.req = wire.AccountRequest{
		CustomerInternalReference: strFlag(fs, "reference"),
		WorkflowDefinition:        wire.WorkflowDefinition{Key: key},
		CallbackURL:               strFlag(fs, "callback-url"),
		TokenLifetime:             strFlag(fs, "token-lifetime"),
	}
	if ir.req.CustomerInternalReference == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		ir.req.CustomerInternalReference = "kycflow-" + hex.EncodeToString(b[:])
	}
	if l, s, er := strFlag(fs, "locale"), strFlag(fs, "success-url"), strFlag(fs, "error-url"); l != "" || s != "" || er != "" {
		ir.req.Web = &wire.WebSettings{Locale: l, SuccessURL: s, ErrorURL: er}
	}
	ir.req.UserReference = ir.userID
	if refSecrets.IsSet() {
		first, _, _ := strings.Cut(refSecrets.Value(), ",")
		tok, err := wire.SignUserReference([]byte(strings.TrimSpace(first)), ir.userID, time.Now())
		if err != nil {
			return ir, fmt.Errorf("initiate: --user-id: %w", err)
		}
		ir.req.UserReference, ir.signed = tok, true
	}
	if err := ir.req.Validate(); err != nil {
		return ir, usageError("initiate: %v", err)
	}
	return ir, nil
}

// printInitiated prints the transaction's ids and web link.
func printInitiated(w io.Writer, target string, ir initiation, resp *wire.AccountResponse) {
	fmt.Fprintf(w, "transaction initiated on %s\n", target)
	fmt.Fprintf(w, "  account             %s\n", resp.Account.ID)
	fmt.Fprintf(w, "  workflow execution  %s\n", resp.WorkflowExecution.ID)
	fmt.Fprintf(w, "  workflow key        %d\n", ir.key)
	fmt.Fprintf(w, "  reference           %s\n", ir.req.CustomerInternalReference)
	switch {
	case ir.signed:
		fmt.Fprintf(w, "  userReference       signed with KYCFLOW_INGEST_USER_REFERENCE_SECRETS (user id %q)\n", ir.userID)
	case ir.userID != "":
		fmt.Fprintf(w, "  userReference       %s (not signed: KYCFLOW_INGEST_USER_REFERENCE_SECRETS is unset)\n", ir.userID)
	}
	if resp.Web != nil && resp.Web.Href != "" {
		fmt.Fprintf(w, "  web link            %s\n", resp.Web.Href)
	}
}
