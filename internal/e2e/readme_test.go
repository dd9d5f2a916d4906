package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
)

// readmeBlocks says how each shell block of the README is checked, by the
// block's first command line. A block the table does not know fails the
// test, so that a new block is either run or skipped for a stated reason.
var readmeBlocks = map[string]string{
	"kycflow initiate --workflow-key 10011 --front id-front.jpg --back id-back.jpg --face selfie.jpg": "skip: needs photos of an identity document; " +
		"TestInitiateAPIChannel and TestDroppedCallbacksReconciled run it with generated images",
	"go run ./cmd/kycflow run":                                               "run",
	"go test -race ./...":                                                    "skip: the test suite this test is part of",
	"go build -o bin/ ./cmd/kycflow":                                         "run",
	"go run ./cmd/kycflow send --count 10":                                   "run",
	"go run ./cmd/jumiosim -h":                                               "run",
	"export KYCFLOW_INGEST_PATH_SECRET=local-path-secret-0123456789":         "run",
	"docker build -t registry.example.com/kycflow/kycflow:1.0.0 .":           "skip: no Docker here; CI builds the image",
	"docker-compose up --build":                                              "skip: no Docker here; CI runs docker-compose config",
	"make bench":                                                             "skip: minutes long; TestDocumentedCommandsParse checks its flags",
	"make faults":                                                            "skip: the fault suite, part of go test ./...",
	"bin/kycflow bench ingest --json-out ingest-1.json":                      "skip: minutes long; TestDocumentedCommandsParse checks its flags",
	"kycflow migrate-data --since 2025-01-01 --dry-run":                      "skip: examples (scans.txt is the reader's); TestMigrateDataInterruptedAndResumed runs these commands against the simulator, TestDocumentedCommandsParse checks their flags",
	"kycflow erase --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff --dry-run": "skip: examples with made-up ids, and erase asks before it deletes; TestEraseFailsAtJumioAndCompletesLater and TestEraseExecutionAtJumio run these commands against the simulator",
}

// TestREADMECommandBlocks runs the README's shell blocks as a reader
// would, from a fresh directory, each command in its turn: "kycflow run"
// in one terminal (a later run replaces the one before, as after Ctrl-C),
// the other commands in another, which find the run through
// kycflow-data/run.json. What stands in for the reader:
//
//   - "go run ./cmd/kycflow" and "go run ./cmd/jumiosim" run the binaries
//     this package built from the same source, and "go build -o bin/
//     ./cmd/kycflow" copies that binary (a go shim first on the PATH);
//     any other go command is the real one;
//   - the fixed addresses of the blocks (127.0.0.1:<port>) become free
//     ports, and kycflow run's defaults are moved to free ports through
//     KYCFLOW_INGEST_ADDR, KYCFLOW_ENRICHER_ADDR, KYCFLOW_NOTIFIER_ADDR and
//     KYCFLOW_NATS_LISTEN, so that the test takes no port of the machine;
//   - a command that follows (tail) is stopped once it printed what the
//     README says it prints.
//
// Each command must exit 0 (the long-running ones when stopped with
// Ctrl-C), and print what the README says it prints.
func TestREADMECommandBlocks(t *testing.T) {
	slow(t)
	s := newReadmeSession(t)
	blocks := shellBlocks(t, "../../README.md")
	if len(blocks) < 8 {
		t.Fatalf("found %d shell blocks in the README; the extraction is broken", len(blocks))
	}
	for _, b := range blocks {
		how, ok := readmeBlocks[b.cmds[0]]
		switch {
		case !ok:
			t.Errorf("README.md:%d: the shell block %q is not in readmeBlocks: run it or say why not", b.line, b.cmds[0])
			continue
		case strings.HasPrefix(how, "skip: "):
			t.Logf("README.md:%d: %s: %s", b.line, b.cmds[0], strings.TrimPrefix(how, "skip: "))
			continue
		}
		for _, c := range b.cmds {
			s.run(b.line, c)
		}
	}
	s.stopAll()
}

// shellBlock is a sh block of a Markdown document: its command lines,
// continuations joined and comments dropped.
type shellBlock struct {
	line int
	cmds []string
}

func shellBlocks(t *testing.T, path string) []shellBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []shellBlock
	var cur *shellBlock
	var cont strings.Builder
	for i, l := range strings.Split(string(b), "\n") {
		fence := strings.HasPrefix(strings.TrimSpace(l), "```")
		switch {
		case fence && cur == nil:
			cur = &shellBlock{line: -1} // another language, or output: skipped
			if lang := strings.TrimPrefix(strings.TrimSpace(l), "```"); lang == "sh" || lang == "bash" || lang == "shell" {
				cur.line = i + 1
			}
		case fence:
			if cur.line > 0 && len(cur.cmds) > 0 {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil && cur.line > 0:
			code := l
			if i := strings.Index(code, " #"); i >= 0 {
				code = code[:i]
			}
			if strings.HasPrefix(strings.TrimSpace(code), "#") {
				code = ""
			}
			code = strings.TrimRight(code, " \t")
			if c, ok := strings.CutSuffix(code, `\`); ok {
				cont.WriteString(c + " ")
				continue
			}
			cont.WriteString(code)
			if c := strings.Join(strings.Fields(cont.String()), " "); c != "" {
				cur.cmds = append(cur.cmds, c)
			}
			cont.Reset()
		}
	}
	return out
}

// readmeSession is the reader's machine: a fresh directory, two
// terminals' worth of processes, the environment the exports built.
type readmeSession struct {
	t       *testing.T
	dir     string
	env     []string
	exports []string
	ports   map[string]string // port of the README → free port
	bg      []*bgProcess
}

type bgProcess struct {
	name string
	cmd  *exec.Cmd
	out  *ingesttest.SyncBuffer
	// done is closed once the process exited, with its error in err.
	done    chan struct{}
	err     error
	stopped bool // by stop, once
}

func newReadmeSession(t *testing.T) *readmeSession {
	bin := filepath.Dir(kycflowBinary(t))
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	shim := t.TempDir()
	script := `#!/bin/sh
# Stands in for the go command of the README's reader: the binaries are built already.
case "$1 $2" in
"run ./cmd/kycflow"|"run ./cmd/jumiosim") name=${2##*/}; shift 2; exec "` + bin + `/$name" "$@" ;;
"build -o") if [ "$4" = ./cmd/kycflow ] && [ $# -eq 4 ]; then mkdir -p "$3" && exec cp "` + bin + `/kycflow" "$3"; fi ;;
esac
exec "` + realGo + `" "$@"
`
	if err := os.WriteFile(filepath.Join(shim, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &readmeSession{t: t, dir: t.TempDir(), ports: map[string]string{}}
	s.env = append(os.Environ(), "PATH="+shim+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KYCFLOW_INGEST_ADDR="+ingesttest.FreeAddr(t), "KYCFLOW_ENRICHER_ADDR="+ingesttest.FreeAddr(t),
		"KYCFLOW_NOTIFIER_ADDR="+ingesttest.FreeAddr(t), "KYCFLOW_NATS_LISTEN="+ingesttest.FreeAddr(t),
		"KYCFLOW_DATA_DIR=", "KYCFLOW_NATS_URL=", "KYCFLOW_LOG_FORMAT=json")
	t.Cleanup(func() {
		for _, p := range s.bg {
			select {
			case <-p.done:
			default:
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
	})
	return s
}

var loopbackPortRE = regexp.MustCompile(`127\.0\.0\.1:(\d{4,5})\b`)

// localize replaces the fixed ports of a command with free ones, the same
// port by the same free one throughout the README run.
func (s *readmeSession) localize(c string) string {
	return loopbackPortRE.ReplaceAllStringFunc(c, func(m string) string {
		port := m[len("127.0.0.1:"):]
		for _, free := range s.ports {
			if free == m {
				return m // one of ours already
			}
		}
		if _, ok := s.ports[port]; !ok {
			s.ports[port] = ingesttest.FreeAddr(s.t)
		}
		return s.ports[port]
	})
}

var (
	runRE      = regexp.MustCompile(`(^|\s)(\S*kycflow|go run \./cmd/kycflow) run(\s|$)`)
	jumiosimRE = regexp.MustCompile(`(^|\s)go run \./cmd/jumiosim .*-callback-url`)
	followRE   = regexp.MustCompile(`(^|\s)(\S*kycflow|go run \./cmd/kycflow) tail .*--all`)
)

// run runs one command line of the README the way its kind needs.
func (s *readmeSession) run(line int, c string) {
	t := s.t
	t.Helper()
	if strings.HasPrefix(c, "export ") {
		s.exports = append(s.exports, c)
		return
	}
	where := fmt.Sprintf("README.md:%d: %s", line, c)
	switch {
	case runRE.MatchString(c):
		s.stopRuns() // the reader stops the one before (Ctrl-C)
		p := s.start("kycflow run", c)
		s.waitFor(where, p, "Ctrl-C to stop.")
	case jumiosimRE.MatchString(c):
		p := s.start("jumiosim", c)
		// The README: "at the end, the answers by API".
		if got, want := s.waitLine(where, p, "jumiosim: sent "), "jumiosim: sent 220 callbacks: map[netverify 200:20 platform 200:200]"; got != want {
			t.Errorf("%s: got %q, want %q", where, got, want)
			return
		}
		// And the results come out of the kycflow run it feeds.
		nats := "nats://" + s.ports["14222"]
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := s.command(ctx, fmt.Sprintf("go run ./cmd/kycflow tail --all --count 220 --nats-url %s", nats))
		if err != nil || len(lines(out)) != 220 {
			t.Errorf("%s: %d results from the kycflow run it feeds (%v), want 220:\n%s", where, len(lines(out)), err, tail(out))
		}
	case followRE.MatchString(c):
		// The quick start: one line per result of the ten sent.
		p := s.start("tail", c)
		s.waitFor(where, p, "", 10)
		s.stop(p, false)
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := s.command(ctx, c)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, out)
			return
		}
		for _, want := range readmeOutputs[c] {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q:\n%s", where, want, out)
			}
		}
	}
}

// readmeOutputs is what a command's output must hold, as the README says.
var readmeOutputs = map[string][]string{
	"go run ./cmd/kycflow send --count 10": {"sent 10 callbacks to ", ": 10× 200"},
	"go run ./cmd/jumiosim -h":             {"-callback-url", "-details", "-revoke-every"},
}

// script is c preceded by the exports of the README run so far, with free ports.
func (s *readmeSession) script(c string) string {
	return strings.Join(append(append([]string{}, s.exports...), s.localize(c)), "\n")
}

// command runs c to its end and returns its output.
func (s *readmeSession) command(ctx context.Context, c string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", "-c", s.script(c))
	cmd.Dir, cmd.Env = s.dir, s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// start starts c in the background, in a process group of its own as a
// terminal's foreground job is.
func (s *readmeSession) start(name, c string) *bgProcess {
	p := &bgProcess{name: name, out: &ingesttest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("bash", "-c", s.script(c))
	p.cmd.Dir, p.cmd.Env = s.dir, s.env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.bg = append(s.bg, p)
	return p
}

// waitFor waits until p printed want, or (want "") n lines of standard
// output, for up to three minutes; p must not exit meanwhile.
func (s *readmeSession) waitFor(where string, p *bgProcess, want string, n ...int) {
	s.t.Helper()
	deadline := time.After(3 * time.Minute)
	for {
		out := p.out.String()
		if want != "" && strings.Contains(out, want) || want == "" && len(lines(out)) >= n[0] {
			return
		}
		select {
		case <-p.done:
			s.t.Fatalf("%s: exited (%v) before it printed %q:\n%s", where, p.err, want, p.out.String())
		case <-deadline:
			s.t.Fatalf("%s: did not print %q within 3 minutes:\n%s", where, want, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitLine waits until p printed a whole line that starts with prefix and
// returns it.
func (s *readmeSession) waitLine(where string, p *bgProcess, prefix string) string {
	s.t.Helper()
	s.waitFor(where, p, prefix)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out := p.out.String()
		if _, rest, _ := strings.Cut(out, prefix); strings.Contains(rest, "\n") {
			line, _, _ := strings.Cut(rest, "\n")
			return prefix + line
		}
	}
	s.t.Fatalf("%s: the line %q… did not end", where, prefix)
	return ""
}

// stop sends Ctrl-C's SIGINT to p's process group and waits; clean asks
// for exit status 0.
func (s *readmeSession) stop(p *bgProcess, clean bool) {
	s.t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	select {
	case <-p.done: // ended by itself
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(90 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			s.t.Errorf("%s did not stop on Ctrl-C", p.name)
			return
		}
	}
	if clean && p.err != nil {
		s.t.Errorf("%s did not stop cleanly on Ctrl-C (%v):\n%s", p.name, p.err, tail(p.out.String()))
	}
}

func (s *readmeSession) stopRuns() {
	for _, p := range s.bg {
		if p.name == "kycflow run" {
			s.stop(p, true)
		}
	}
}

// stopAll stops what still runs: the runs must stop cleanly.
func (s *readmeSession) stopAll() {
	for _, p := range s.bg {
		s.stop(p, p.name == "kycflow run")
	}
}

// tail is the end of a long output.
func tail(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	var last []string
	for sc.Scan() {
		last = append(last, sc.Text())
		if len(last) > 20 {
			last = last[1:]
		}
	}
	return strings.Join(last, "\n")
}
