package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

func init() {
	register(&Command{
		Name:    "migrate-request",
		Summary: "translate a Netverify /initiate or /performNetverify request, an /initiate response or a success/error redirect into their Platform equivalents",
		Usage:   "[file|-] [flags]",
		Description: `Reads a Netverify request body (a file, or standard input with "-" or no
argument), detects whether it is for /initiate (Netverify Web v4) or
/performNetverify (or takes --kind), and prints the equivalent Jumio
Platform account request (POST /api/v1/accounts) as JSON on standard
output, and on standard error one warning per field that does not carry
over, with what to do instead (images are uploaded through the API channel
after the account exists, data to compare is checked against the result).

It also ports the code around the request: given a Netverify /initiate
response ({timestamp, redirectUrl, transactionReference}; --kind response)
it prints the Platform account response fields that replace it (web.href,
workflowExecution.id; account.id is new), and given the URL Netverify
redirected the end user to (a success or error URL with its query;
--kind redirect, detected when the input is not JSON) it prints the URL the
Platform redirects to: workflowExecutionId for transactionReference,
acquisitionStatus for transactionStatus, and the new accountId.

Netverify workflowId values map to Platform workflow keys through the
built-in table; override entries with --workflows or KYCFLOW_WORKFLOWS
("200=10011,201=10011"). The input is never printed: a performNetverify body
holds images and personal data.

With --execute a /performNetverify request is run against the Jumio
Platform instead of printed: the account is created with the translated
request, the base64 images of the body (frontsideImage, backsideImage,
faceImage) are checked and uploaded through the API channel, with
firstName, lastName and dob as prepared data when the workflow has a DATA
credential, and the execution is finalized; the ids are printed. Jumio
credentials come from the KYCFLOW_JUMIO_* variables, else the simulator of
the local kycflow run is used.`,
		Example: `  kycflow migrate-request initiate.json
  cat perform.json | kycflow migrate-request --kind perform --workflows 200=10013
  kycflow migrate-request initiate.json --json | jq .warnings
  echo 'https://shop.example/kyc/done?transactionStatus=SUCCESS&transactionReference=…' | kycflow migrate-request
  kycflow migrate-request perform.json --execute`,
		Flags: func(fs *flag.FlagSet) {
			fs.String("kind", "auto", "kind of input: initiate, perform, response, redirect or auto")
			fs.String("workflows", "", "Netverify workflowId → Platform workflow key overrides, \"200=10011,...\" (default KYCFLOW_WORKFLOWS)")
			fs.Bool("json", false, "print {kind, request, warnings} as one JSON document")
			executeFlags(fs)
		},
		Run: runMigrate,
	})
}

// maxRequestBytes bounds the input (performNetverify bodies carry images).
const maxRequestBytes = 32 << 20

func runMigrate(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 1 {
		return usageError("migrate-request: one file at most")
	}
	var in io.Reader = env.Stdin
	name := "standard input"
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return fmt.Errorf("migrate-request: %w", err)
		}
		defer f.Close()
		in, name = f, args[0]
	}
	if in == nil {
		return usageError("migrate-request: give a file or pipe the request in")
	}
	body, err := io.ReadAll(io.LimitReader(in, maxRequestBytes+1))
	if err != nil {
		return fmt.Errorf("migrate-request: read %s: %w", name, err)
	}
	if len(body) > maxRequestBytes {
		return fmt.Errorf("migrate-request: %s is larger than %d MiB", name, maxRequestBytes>>20)
	}
	tables := mapping.DefaultTables()
	workflows := cmp.Or(strFlag(fs, "workflows"), env.Getenv("KYCFLOW_WORKFLOWS"))
	if workflows != "" {
		m, err := mapping.ParseWorkflows(workflows)
		if err != nil {
			return usageError("migrate-request: workflows: %v", err)
		}
		tables = tables.WithWorkflows(m)
	}
	kind := strFlag(fs, "kind")
	if kind == "auto" {
		kind = detectKind(body)
	}
	// out is what is printed: the request, the response or the redirect.
	var (
		out      any
		warnings []mapping.Warning
	)
	what := "a JSON object"
	switch kind {
	case "initiate":
		var req wire.AccountRequest
		req, warnings, err = tables.FromNetverifyInitiate(body)
		out = req
	case "perform":
		var req wire.AccountRequest
		req, warnings, err = tables.FromPerformNetverify(body)
		out = req
	case "response":
		var resp wire.AccountResponse
		resp, warnings, err = mapping.FromNetverifyInitiateResponse(body)
		out = resp
	case "redirect":
		var redirect string
		redirect, warnings, err = mapping.FromNetverifyRedirect(string(body))
		out, what = redirect, "a URL"
	default:
		return usageError("migrate-request: --kind %q: want initiate, perform, response, redirect or auto", kind)
	}
	if err != nil {
		if errors.Is(err, mapping.ErrInvalidRequest) {
			return fmt.Errorf("migrate-request: %s is not %s", name, what)
		}
		return fmt.Errorf("migrate-request: %w", err)
	}
	if boolFlag(fs, "execute") {
		req, _ := out.(wire.AccountRequest)
		return executePerform(ctx, env, fs, kind, req, warnings, body)
	}
	if boolFlag(fs, "json") {
		key := map[string]string{"response": "response", "redirect": "redirect"}[kind]
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"kind": kind, cmp.Or(key, "request"): out, "warnings": append([]mapping.Warning{}, warnings...)})
	}
	if redirect, ok := out.(string); ok {
		fmt.Fprintln(env.Stdout, redirect)
	} else {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "warning: %s (%s): %s\n", w.Field, w.Kind, w.Message)
	}
	if len(warnings) > 0 {
		fmt.Fprintf(env.Stderr, "%s of the %s did not carry over as they were\n", count(len(warnings), "field"), map[string]string{
			"initiate": "initiate request", "perform": "performNetverify request", "response": "initiate response", "redirect": "redirect"}[kind])
	}
	return nil
}

// detectKind tells a redirect URL (not JSON) from a JSON body, an
// /initiate response (redirectUrl, transactionReference) from a request,
// and a performNetverify body (it carries the document: images, country
// and type) from an /initiate one.
func detectKind(body []byte) string {
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && !json.Valid(trimmed) && trimmed[0] != '{' && trimmed[0] != '[' {
		return "redirect"
	}
	var fields map[string]json.RawMessage
	if json.NewDecoder(bytes.NewReader(body)).Decode(&fields) != nil {
		return "initiate" // the mapping reports the body
	}
	for _, k := range []string{"redirectUrl", "transactionReference"} {
		if _, ok := fields[k]; ok {
			return "response"
		}
	}
	for _, k := range []string{"frontsideImage", "faceImage", "backsideImage", "idType", "merchantIdScanReference", "enabledFields"} {
		if _, ok := fields[k]; ok {
			return "perform"
		}
	}
	return "initiate"
}
