package rig

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcessConfig describes a program the rig runs.
type ProcessConfig struct {
	// Name names the process in errors ("ingest").
	Name string
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Env is added to the rig's environment, from which every KYCFLOW_*
	// and OTEL_* variable is removed first: a process sees only what the
	// rig sets.
	Env map[string]string
	// AddrEnv is the variable that sets the listen address; Restart sets
	// it to the address the process had, so that clients find it again.
	AddrEnv string
	// ListenMessage is the message of the JSON log line whose "addr"
	// attribute is the address the process listens on ("ingest
	// listening"); empty for a program that logs no such line.
	ListenMessage string
	// Ready reports whether the process is ready; nil means GET /readyz
	// at the address answers 200.
	Ready func(ctx context.Context, addr string) error
	// Log gets a copy of everything the process writes (nil: only the
	// last lines are kept, for errors).
	Log io.Writer
	// Records are log messages whose lines are kept, with their string
	// attributes, for Records.
	Records []string
	// Profiling says the process serves Go profiles (/debug/pprof/), at
	// ProfilingAddr, or at its own address when that is empty.
	Profiling     bool
	ProfilingAddr string
}

// LogRecord is a JSON log line a process wrote: its message and its
// string attributes.
type LogRecord struct {
	Msg   string
	Attrs map[string]string
}

// Process is a running program: started, killed, stopped and restarted
// by the rig, with its resident memory and CPU time from /proc. Its
// methods are safe for concurrent use.
type Process struct {
	cfg ProcessConfig

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	addr string
	// adminAddr is the admin address of the listen line ("admin_addr"),
	// where ingest serves /metrics apart from its callbacks.
	adminAddr string
	tail      []string
	logged    map[string]bool
	reports   []string
	records   []LogRecord
	starts    int
	// cpuBefore is the CPU time of the runs before the current one.
	cpuBefore time.Duration
}

// startTimeout bounds a start when ctx has no deadline.
const startTimeout = 2 * time.Minute

// tailLines is how many output lines a Process keeps for errors.
const tailLines = 60

// StartProcess starts a program and waits until it listens (ListenMessage)
// and is ready.
func StartProcess(ctx context.Context, cfg ProcessConfig) (*Process, error) {
	if cfg.Ready == nil {
		cfg.Ready = readyz
	}
	cfg.Env = maps.Clone(cfg.Env)
	p := &Process{cfg: cfg, logged: map[string]bool{}}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Process) start(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = environ(p.cfg.Env)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout // one pipe, one reader
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rig: start %s: %w", p.cfg.Name, err)
	}
	done := make(chan struct{})
	addrc := make(chan listenAddrs, 1)
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.starts++
	p.mu.Unlock()
	go func() {
		p.read(out, addrc)
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()

	if p.cfg.ListenMessage != "" {
		select {
		case a := <-addrc:
			p.mu.Lock()
			p.addr, p.adminAddr = a.addr, a.admin
			p.mu.Unlock()
		case <-done:
			return p.failed(errExited.Error())
		case <-ctx.Done():
			_ = p.Kill()
			return p.failed("did not listen: " + ctx.Err().Error())
		}
	}
	if err := p.ready(ctx, done); err != nil {
		if !errors.Is(err, errExited) {
			_ = p.Kill()
		}
		return p.failed(err.Error())
	}
	return nil
}

// errExited: the process ended while the rig waited for it.
var errExited = errors.New("exited")

// ready polls the readiness check until it passes, the run ends (done:
// errExited) or ctx ends.
func (p *Process) ready(ctx context.Context, done <-chan struct{}) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.cfg.Ready(rctx, p.Addr())
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// read scans the output: it keeps the last lines, notes every log
// message, and sends the address of the listen message.
func (p *Process) read(r io.Reader, addrc chan<- listenAddrs) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if p.cfg.Log != nil {
			_, _ = fmt.Fprintf(p.cfg.Log, "%s\n", line)
		}
		var rec struct {
			Msg       string `json:"msg"`
			Addr      string `json:"addr"`
			AdminAddr string `json:"admin_addr"`
		}
		_ = json.Unmarshal(line, &rec)
		var kept *LogRecord
		if rec.Msg != "" && slices.Contains(p.cfg.Records, rec.Msg) {
			kept = &LogRecord{Msg: rec.Msg, Attrs: stringAttrs(line)}
		}
		p.mu.Lock()
		if kept != nil {
			p.records = append(p.records, *kept)
		}
		p.tail = append(p.tail, string(line))
		if len(p.tail) > tailLines {
			p.tail = slices.Delete(p.tail, 0, len(p.tail)-tailLines)
		}
		if rec.Msg != "" {
			p.logged[rec.Msg] = true
		}
		if isReport(line) && len(p.reports) < maxReports {
			p.reports = append(p.reports, string(line))
		}
		p.mu.Unlock()
		if rec.Msg != "" && rec.Msg == p.cfg.ListenMessage && rec.Addr != "" {
			select {
			case addrc <- listenAddrs{addr: rec.Addr, admin: rec.AdminAddr}:
			default:
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// listenAddrs are the addresses of a listen line.
type listenAddrs struct{ addr, admin string }

// stringAttrs are the string attributes of a JSON log line.
func stringAttrs(line []byte) map[string]string {
	var all map[string]any
	_ = json.Unmarshal(line, &all)
	out := map[string]string{}
	for k, v := range all {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Records returns the kept log lines (ProcessConfig.Records) of every run,
// in the order written. A line written before a SIGKILL is kept: the
// process wrote it to the pipe the rig reads.
func (p *Process) Records() []LogRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.records)
}

// maxReports bounds the report lines a Process keeps.
const maxReports = 20

// isReport tells the lines that report a bug: a data race found by the
// race detector, a panic, a fatal runtime error.
func isReport(line []byte) bool {
	s := string(line)
	return strings.HasPrefix(s, "WARNING: DATA RACE") || strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ")
}

// Reports returns the lines in which the process reported a data race, a
// panic or a fatal error (in any run).
func (p *Process) Reports() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reports)
}

func (p *Process) failed(what string) error {
	return fmt.Errorf("rig: %s %s; last output:\n%s", p.cfg.Name, what, p.Tail())
}

// environ is the rig's environment without KYCFLOW_* and OTEL_*
// variables, plus env.
func environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KYCFLOW_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// httpClient asks the processes for their readiness and metrics; a
// process that accepts and never answers fails the call.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// readyz is the default readiness check: GET /readyz answers 200.
func readyz(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %d", resp.StatusCode)
	}
	return nil
}

// WaitReady waits until the process is ready again (after an outage of
// a dependency), or ctx ends.
func (p *Process) WaitReady(ctx context.Context) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if err := p.ready(ctx, done); err != nil {
		return fmt.Errorf("rig: %s %w", p.cfg.Name, err)
	}
	return nil
}

// Name is the process's name.
func (p *Process) Name() string { return p.cfg.Name }

// Addr is the address the process listens on ("" when it logs none).
func (p *Process) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// MetricsAddr is where the process serves /metrics: its admin address
// when its listen line names one (ingest, kycflow run), else Addr.
func (p *Process) MetricsAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cmp.Or(p.adminAddr, p.addr)
}

// PID is the process id of the current run.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Starts counts the runs: 1 until the first Restart.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Exited reports whether the current run has ended.
func (p *Process) Exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Logged reports whether the process logged a line with message msg
// (in any run).
func (p *Process) Logged(msg string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logged[msg]
}

// Tail returns the last lines the process wrote.
func (p *Process) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer
// would, and waits for it.
func (p *Process) Kill() error {
	return p.signal(syscall.SIGKILL, 0)
}

// Freeze stops the process (SIGSTOP) without ending it: it holds its
// connections and its work, and does nothing, until Thaw.
func (p *Process) Freeze() error { return p.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen process (SIGCONT).
func (p *Process) Thaw() error { return p.Signal(syscall.SIGCONT) }

// Signal sends sig to the running process and returns at once.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if p.Exited() {
		return fmt.Errorf("rig: %s is not running", p.cfg.Name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("rig: %s: %w", p.cfg.Name, err)
	}
	return nil
}

// Wait waits until the current run ends, or ctx ends.
func (p *Process) Wait(ctx context.Context) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rig: %s still running: %w", p.cfg.Name, ctx.Err())
	}
}

// stopTimeout bounds the wait for a SIGTERM; then the process is killed.
const stopTimeout = 45 * time.Second

// Stop sends SIGTERM and waits for the process to exit (killing it after
// stopTimeout). It returns the exit error, nil for a clean exit.
func (p *Process) Stop() error {
	return p.signal(syscall.SIGTERM, stopTimeout)
}

func (p *Process) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	select {
	case <-done:
		return p.exitErr()
	default:
	}
	cpu, _ := processCPU(cmd.Process.Pid)
	_ = cmd.Process.Signal(sig)
	if wait > 0 {
		select {
		case <-done:
		case <-time.After(wait):
			_ = cmd.Process.Kill()
			<-done
		}
	} else {
		<-done
	}
	p.mu.Lock()
	p.cpuBefore += cpu
	p.mu.Unlock()
	if sig == syscall.SIGKILL {
		return nil
	}
	return p.exitErr()
}

func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("rig: %s: %w", p.cfg.Name, p.err)
	}
	return nil
}

// ErrRunning is returned by Restart while the process runs.
var ErrRunning = errors.New("rig: process still running")

// Restart starts the process again after Kill or Stop, on the address it
// had, and waits until it is ready.
func (p *Process) Restart(ctx context.Context) error {
	if !p.Exited() {
		return ErrRunning
	}
	if p.cfg.AddrEnv != "" && p.Addr() != "" {
		p.cfg.Env[p.cfg.AddrEnv] = p.Addr()
	}
	return p.start(ctx)
}

// Stats are a process's figures from /proc.
type Stats struct {
	// RSS is the resident memory now (VmRSS), HWM its peak (VmHWM), in
	// bytes, of the current run.
	RSS, HWM int64
	// CPU is the user and system time of every run so far.
	CPU time.Duration
}

// Stats reads the process's figures.
func (p *Process) Stats() (Stats, error) {
	p.mu.Lock()
	pid, before := p.cmd.Process.Pid, p.cpuBefore
	p.mu.Unlock()
	if p.Exited() {
		return Stats{CPU: before}, fmt.Errorf("rig: %s is not running", p.cfg.Name)
	}
	return readStats(pid, before)
}
