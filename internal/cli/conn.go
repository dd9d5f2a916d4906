package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/config"
)

// DefaultDataDir is where "kycflow run" keeps its data unless --data-dir
// or KYCFLOW_DATA_DIR says otherwise.
const DefaultDataDir = "kycflow-data"

// runInfoFile is the file "kycflow run" writes into its data directory
// while it runs, so that the operator commands started from the same
// directory find its NATS server, ingest and simulator.
const runInfoFile = "run.json"

// runInfo is the content of runInfoFile. It holds addresses only, never a
// secret: the callback URLs' secret segment is read from the environment
// by whoever needs it.
type runInfo struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"startedAt"`
	NATSURL   string    `json:"natsUrl"`
	IngestURL string    `json:"ingestUrl"`
	// IngestAdminURL serves ingest's /readyz and /metrics ("" when off).
	IngestAdminURL string `json:"ingestAdminUrl,omitempty"`
	EnricherURL    string `json:"enricherUrl,omitempty"`
	NotifierURL    string `json:"notifierUrl,omitempty"`
	SimulatorURL   string `json:"simulatorUrl,omitempty"`
	// StoreDir is the embedded NATS server's JetStream store ("" for an
	// external server): "kycflow streams" reads there whether each
	// stream is stored encrypted.
	StoreDir string `json:"storeDir,omitempty"`
}

// dataDir is the data directory of a local "kycflow run": KYCFLOW_DATA_DIR
// or DefaultDataDir.
func dataDir(env Env) string {
	if d := env.Getenv("KYCFLOW_DATA_DIR"); d != "" {
		return d
	}
	return DefaultDataDir
}

func writeRunInfo(dir string, ri runInfo) error {
	return writeFileAtomic(filepath.Join(dir, runInfoFile), ri)
}

// writeFileAtomic writes v as JSON to path through a temporary file, so
// that a reader never sees half of it.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// runDataDir is the data directory an operator command looks in for a
// local "kycflow run": --data-dir, else KYCFLOW_DATA_DIR, else
// DefaultDataDir.
func runDataDir(env Env, fs *flag.FlagSet) string {
	if f := fs.Lookup("data-dir"); f != nil && flagSet(fs, "data-dir") {
		return f.Value.String()
	}
	return dataDir(env)
}

// dataDirFlag registers --data-dir on an operator command that looks for
// a local "kycflow run".
func dataDirFlag(fs *flag.FlagSet) {
	fs.String("data-dir", "", "data directory of the local kycflow run to use (default KYCFLOW_DATA_DIR, else "+DefaultDataDir+")")
}

// noLocalRun says where a local "kycflow run" was looked for.
func noLocalRun(env Env, fs *flag.FlagSet) string {
	return fmt.Sprintf("no kycflow run found in %s (one started with --data-dir elsewhere: pass the same --data-dir or set KYCFLOW_DATA_DIR)", runDataDir(env, fs))
}

// localRun reads the run information of a local "kycflow run"; ok is false
// when none is running from the data directory.
func localRun(env Env, fs *flag.FlagSet) (runInfo, bool) {
	b, err := os.ReadFile(filepath.Join(runDataDir(env, fs), runInfoFile))
	if err != nil {
		return runInfo{}, false
	}
	var ri runInfo
	if json.Unmarshal(b, &ri) != nil || ri.NATSURL == "" {
		return runInfo{}, false
	}
	return ri, true
}

// natsFlag registers --nats-url, and --data-dir to find a local run, on
// an operator command.
func natsFlag(fs *flag.FlagSet) {
	fs.String("nats-url", "", "NATS server URL (default KYCFLOW_NATS_URL, else the local kycflow run's, else "+nats.DefaultURL+")")
	dataDirFlag(fs)
}

// natsURL is --nats-url, else KYCFLOW_NATS_URL, else the local run's
// server, else NATS's default.
func natsURL(env Env, fs *flag.FlagSet) string {
	if u := strFlag(fs, "nats-url"); u != "" {
		return u
	}
	if u := env.Getenv("KYCFLOW_NATS_URL"); u != "" {
		return u
	}
	if ri, ok := localRun(env, fs); ok {
		return ri.NATSURL
	}
	return nats.DefaultURL
}

// namedRunMissing refuses to fall back to NATS's default URL when the
// operator named a data directory (--data-dir, KYCFLOW_DATA_DIR) that
// holds no running kycflow run and named no server: the default URL may
// be another kycflow's (a second run, a local NATS), which a redrive, a
// purge or an erasure would then change without a word.
func namedRunMissing(env Env, fs *flag.FlagSet) error {
	if strFlag(fs, "nats-url") != "" || env.Getenv("KYCFLOW_NATS_URL") != "" {
		return nil
	}
	if !flagSet(fs, "data-dir") && env.Getenv("KYCFLOW_DATA_DIR") == "" {
		return nil
	}
	if _, ok := localRun(env, fs); ok {
		return nil
	}
	return fmt.Errorf("%s; not falling back to %s, which may be another kycflow's: start kycflow run with that data directory, or name the server with --nats-url or KYCFLOW_NATS_URL",
		noLocalRun(env, fs), nats.DefaultURL)
}

// session is an operator command's connection to NATS.
type session struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	streams broker.StreamsConfig
}

func (s *session) Close() { s.nc.Close() }

// connect connects to the NATS server of natsURL with the credentials of
// the KYCFLOW_NATS_* variables.
func connect(ctx context.Context, env Env, fs *flag.FlagSet) (*session, error) {
	e := config.New(env.Getenv)
	cfg := broker.LoadConfig(e)
	if err := e.Err(); err != nil {
		return nil, err
	}
	if err := namedRunMissing(env, fs); err != nil {
		return nil, err
	}
	cfg.URL = natsURL(env, fs)
	cfg.Name = "kycflow-cli"
	nc, err := broker.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		hint := "start kycflow run, or set --nats-url or KYCFLOW_NATS_URL"
		if _, local := localRun(env, fs); !local && strFlag(fs, "nats-url") == "" && env.Getenv("KYCFLOW_NATS_URL") == "" {
			hint = noLocalRun(env, fs) + "; start kycflow run, or set --nats-url or KYCFLOW_NATS_URL"
		}
		if ce := (*broker.ConnectError)(nil); errors.As(err, &ce) {
			err = ce.Err // it names the URL too
		}
		return nil, fmt.Errorf("no NATS server at %s (%s): %w", redactURL(cfg.URL), hint, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &session{nc: nc, js: patientJS{js}, streams: cfg.Streams}, nil
}

// errInterrupted is returned by a command stopped by Ctrl-C.
var errInterrupted = errors.New("interrupted")

// redactURL hides the password of URLs like nats://user:pass@host.
func redactURL(s string) string { return broker.RedactURL(s) }

// Flag readers for the values a command registered.

func strFlag(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

func getFlag(fs *flag.FlagSet, name string) any {
	return fs.Lookup(name).Value.(flag.Getter).Get()
}

func intFlag(fs *flag.FlagSet, name string) int       { return getFlag(fs, name).(int) }
func boolFlag(fs *flag.FlagSet, name string) bool     { return getFlag(fs, name).(bool) }
func floatFlag(fs *flag.FlagSet, name string) float64 { return getFlag(fs, name).(float64) }
func uintFlag(fs *flag.FlagSet, name string) uint64   { return getFlag(fs, name).(uint64) }

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// listFlag is a flag that may be repeated or hold comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func (l *listFlag) Get() any { return []string(*l) }

func listOf(fs *flag.FlagSet, name string) []string { return getFlag(fs, name).([]string) }

// parseWhen reads a point in time: RFC 3339 ("2026-03-04T05:06:07Z"), a
// date ("2026-03-04", midnight UTC), or a duration before now ("90m",
// "2d").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2026-03-04T05:06:07Z, 2026-03-04) or a duration before now (90m, 2d)", s)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// callTimeout bounds one request to the NATS server.
const callTimeout = 10 * time.Second

// ctxCall returns a context for one request to the server.
func ctxCall(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}
