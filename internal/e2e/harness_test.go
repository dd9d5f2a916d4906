package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/cli"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
)

// The kycflow binary, built once for every test that runs it as a child
// process.
var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// kycflowBinary builds cmd/kycflow, and cmd/jumiosim next to it (without
// -race: the child processes are the system under test, the test process
// checks them).
func kycflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "kycflow-e2e-")
		if buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "kycflow")
		out, err := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "../../cmd/kycflow", "../../cmd/jumiosim").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build kycflow: %v", buildErr)
	}
	return binary
}

// slow skips a test that needs more than a few seconds under -short.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with child processes; runs without -short")
	}
}

// run is a "kycflow run" child process.
type run struct {
	t       *testing.T
	dataDir string
	env     []string
	cmd     *exec.Cmd
	stdout  *ingesttest.SyncBuffer
	stderr  *ingesttest.SyncBuffer
	exited  chan error
	stopped bool // set by stop; cmd.ProcessState belongs to Wait's goroutine

	ingest, enricher, notifier string // base URLs
	natsURL                    string
}

// startRun starts "kycflow run" on free loopback ports with dataDir and
// the extra environment, and waits until every stage is ready. The
// process is stopped (SIGTERM) when the test ends, if still running.
func startRun(t *testing.T, dataDir string, env ...string) *run {
	t.Helper()
	r := &run{t: t, dataDir: dataDir, stdout: &ingesttest.SyncBuffer{}, stderr: &ingesttest.SyncBuffer{}, exited: make(chan error, 1)}
	r.env = append(os.Environ(), "KYCFLOW_LOG_FORMAT=json", "KYCFLOW_DATA_DIR="+dataDir)
	r.env = append(r.env, env...)
	ingestAddr, enricherAddr, notifierAddr, natsAddr := ingesttest.FreeAddr(t), ingesttest.FreeAddr(t), ingesttest.FreeAddr(t), ingesttest.FreeAddr(t)
	r.cmd = exec.Command(kycflowBinary(t), "run", "--data-dir", dataDir, "--addr", ingestAddr, "--admin-addr", "127.0.0.1:0",
		"--enricher-addr", enricherAddr, "--notifier-addr", notifierAddr, "--nats-listen", natsAddr)
	r.cmd.Env = r.env
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if !r.stopped {
			r.stop()
		}
	})
	r.ingest, r.enricher, r.notifier = "http://"+ingestAddr, "http://"+enricherAddr, "http://"+notifierAddr
	r.natsURL = "nats://" + natsAddr
	for _, base := range []string{r.ingest, r.enricher, r.notifier} {
		r.waitReady(base)
	}
	return r
}

func (r *run) waitReady(base string) {
	r.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.exited:
			r.t.Fatalf("kycflow run exited (%v):\n%s\n%s", err, r.stdout, r.stderr)
		default:
		}
		if resp, err := client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s did not become ready:\n%s", base, r.stderr)
}

// stop sends SIGTERM and checks the clean exit.
func (r *run) stop() {
	r.t.Helper()
	r.stopped = true
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		if err != nil {
			r.t.Errorf("kycflow run: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
		}
	case <-time.After(90 * time.Second):
		_ = r.cmd.Process.Kill()
		r.t.Fatalf("kycflow run did not stop on SIGTERM:\n%s", r.stderr)
	}
}

// kycflow runs a kycflow command against the run (it finds it through
// KYCFLOW_DATA_DIR) and returns its output; it fails the test unless the
// command exits 0.
func (r *run) kycflow(args ...string) string {
	r.t.Helper()
	out, errOut, err := r.try(context.Background(), "", args...)
	if err != nil {
		r.t.Fatalf("kycflow %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// try runs a kycflow command with stdin and returns its outputs and exit
// error; ctx bounds it.
func (r *run) try(ctx context.Context, stdin string, args ...string) (string, string, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kycflowBinary(r.t), args...)
	cmd.Env = r.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// sent is one line of "kycflow send --json".
type sent struct {
	API                 string `json:"api"`
	AccountID           string `json:"accountId"`
	WorkflowExecutionID string `json:"workflowExecutionId"`
	Outcome             string `json:"outcome"`
	Duplicate           bool   `json:"duplicate"`
	Stale               bool   `json:"stale"`
	Status              int    `json:"status"`
}

// send runs "kycflow send --json" with args and returns the callbacks
// sent, each answered 200.
func (r *run) send(args ...string) []sent {
	r.t.Helper()
	out := r.kycflow(append([]string{"send", "--json", "--rate", "0"}, args...)...)
	var list []sent
	for _, line := range lines(out) {
		var s sent
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			r.t.Fatalf("send output %q: %v", line, err)
		}
		if s.Status != http.StatusOK {
			r.t.Errorf("callback %s answered %d", s.WorkflowExecutionID, s.Status)
		}
		list = append(list, s)
	}
	return list
}

// results runs "kycflow tail --all --json --count n" with the extra
// arguments and returns the n results it printed.
func (r *run) results(n int, args ...string) []events.Result {
	r.t.Helper()
	out := r.kycflow(append([]string{"tail", "--all", "--json", "--count", itoa(n)}, args...)...)
	var list []events.Result
	for _, line := range lines(out) {
		var res events.Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			r.t.Fatalf("tail output %q: %v", line, err)
		}
		list = append(list, res)
	}
	if len(list) != n {
		r.t.Fatalf("tail: got %d results, want %d", len(list), n)
	}
	return list
}

// js connects the test to the run's NATS server.
func (r *run) js() jetstream.JetStream {
	r.t.Helper()
	return brokertest.Connect(r.t, r.natsURL)
}

// inProcess is "kycflow run" in the test process (cli.Main) with its
// embedded NATS server and Jumio simulator, for tests that read its
// streams and drive its simulator directly.
type inProcess struct {
	getenv    func(string) string // the run's environment, for other commands
	enricher  string              // base URL
	simulator string              // base URL, from run.json
	js        jetstream.JetStream
}

// startInProcess runs "kycflow run" in this process on free loopback
// ports, with a data directory of its own, JSON logs at warn and the
// extra environment env ("KEY=value"), waits until every stage is ready
// and connects to its NATS server. The run is stopped, and its exit code
// checked, when the test ends.
func startInProcess(t *testing.T, env ...string) *inProcess {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{"KYCFLOW_LOG_LEVEL": "warn", "KYCFLOW_LOG_FORMAT": "json", "KYCFLOW_DATA_DIR": dir}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	p := &inProcess{getenv: func(k string) string { return vars[k] }}
	ingestAddr, enricherAddr, notifierAddr := ingesttest.FreeAddr(t), ingesttest.FreeAddr(t), ingesttest.FreeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr ingesttest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"run", "--data-dir", dir, "--addr", ingestAddr, "--admin-addr", "127.0.0.1:0", "--enricher-addr", enricherAddr,
			"--notifier-addr", notifierAddr, "--nats-listen", "127.0.0.1:0"}, p.getenv, nil, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("kycflow run: exit %d\n%s", code, stderr.String())
		}
	})
	for _, base := range []string{ingestAddr, enricherAddr, notifierAddr} {
		ingesttest.WaitReady(t, "http://"+base)
	}
	p.enricher = "http://" + enricherAddr
	var ri struct{ NATSURL, SimulatorURL string }
	b, _ := os.ReadFile(filepath.Join(dir, "run.json"))
	if err := json.Unmarshal(b, &ri); err != nil {
		t.Fatalf("run.json: %v %s", err, b)
	}
	p.simulator = ri.SimulatorURL
	p.js = brokertest.Connect(t, ri.NATSURL)
	return p
}

// settle waits until none of the consumers has messages pending or
// unacknowledged.
func settle(t *testing.T, js jetstream.JetStream, consumers ...broker.ConsumerRef) {
	t.Helper()
	eventually(t, "every consumer to settle", func() bool {
		for _, c := range consumers {
			pending, ackPending, err := broker.ConsumerLag(t.Context(), js, c.Stream, c.Durable)
			if err != nil || pending+ackPending > 0 {
				return false
			}
		}
		return true
	})
}

// messages returns every message of stream.
func messages(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	return brokertest.Messages(t, js, stream)
}

// settled waits until no consumer of any stream has messages pending or
// unacknowledged ("kycflow streams --json").
func (r *run) settled() {
	r.t.Helper()
	eventually(r.t, "every consumer to settle", func() bool {
		out := r.kycflow("streams", "--json")
		return strings.Count(out, `"pending": 0`) == strings.Count(out, `"pending":`) &&
			strings.Count(out, `"ackPending": 0`) == strings.Count(out, `"ackPending":`)
	})
}

// eventually polls cond until it holds, for up to two minutes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
