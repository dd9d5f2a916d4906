package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// executeFlags are migrate-request's flags for running a /performNetverify
// request on the Platform.
func executeFlags(fs *flag.FlagSet) {
	fs.Bool("execute", false, "run a /performNetverify request on the Jumio Platform: create the account, upload its images through the API channel, finalize")
	fs.String("simulator", "", "Jumio simulator to use with --execute without credentials (default the local kycflow run's)")
	natsFlag(fs)
}

// executePerform runs a translated /performNetverify request as the
// Platform's API channel: the images are read and checked before the
// account is created, so that a body Jumio would refuse creates nothing.
// Nothing of the body (images, personal data) is printed.
func executePerform(ctx context.Context, env Env, fs *flag.FlagSet, kind string, req wire.AccountRequest, warnings []mapping.Warning, body []byte) error {
	if kind != "perform" {
		return usageError("migrate-request: --execute runs /performNetverify requests (this is a %s request: its end user gets a web link, see kycflow initiate)", kind)
	}
	acq, data, err := performImages(body)
	if err != nil {
		return usageError("migrate-request: %v", err)
	}
	if err := req.Validate(); err != nil {
		return usageError("migrate-request: the translated request: %v", err)
	}
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "warning: %s (%s): %s\n", w.Field, w.Kind, w.Message)
	}
	client, target, err := jumioClient(env, fs, "migrate-request")
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	resp, err := client.CreateAccount(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("migrate-request: %s: %w", target, err)
	}
	ch, err := jumio.NewAPIChannel(resp)
	if err != nil {
		return fmt.Errorf("migrate-request: account %s workflow execution %s: %w", resp.Account.ID, resp.WorkflowExecution.ID, err)
	}
	if _, ok := ch.Credential(wire.CategoryData); ok {
		acq.PreparedData = data
	}
	var line strings.Builder
	if err := acquire(ctx, &line, client, resp, acq); err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return announceUnfinished(ctx, env, fs, resp, req, "kycflow migrate-request",
			fmt.Errorf("migrate-request: API channel of account %s workflow execution %s: %w", resp.Account.ID, resp.WorkflowExecution.ID, err))
	}
	if boolFlag(fs, "json") {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Kind                string            `json:"kind"`
			AccountID           string            `json:"accountId"`
			WorkflowExecutionID string            `json:"workflowExecutionId"`
			WorkflowKey         int               `json:"workflowKey"`
			Warnings            []mapping.Warning `json:"warnings"`
		}{kind, resp.Account.ID, resp.WorkflowExecution.ID, req.WorkflowDefinition.Key, append([]mapping.Warning{}, warnings...)}); err != nil {
			return err
		}
		return announce(ctx, env.Stderr, env, fs, resp, req, "kycflow migrate-request")
	}
	fmt.Fprintf(env.Stdout, "performNetverify request run on %s\n", target)
	fmt.Fprintf(env.Stdout, "  account             %s\n", resp.Account.ID)
	fmt.Fprintf(env.Stdout, "  workflow execution  %s\n", resp.WorkflowExecution.ID)
	fmt.Fprintf(env.Stdout, "  workflow key        %d\n", req.WorkflowDefinition.Key)
	fmt.Fprintf(env.Stdout, "  reference           %s\n", req.CustomerInternalReference)
	fmt.Fprint(env.Stdout, line.String())
	return announce(ctx, env.Stdout, env, fs, resp, req, "kycflow migrate-request")
}
