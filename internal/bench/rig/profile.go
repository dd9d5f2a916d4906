package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoProfiles is returned for a process that serves no profiles: a
// stage started without PipelineConfig.Profiling, a server of a cluster.
var ErrNoProfiles = errors.New("rig: the process serves no profiles")

// cpuProfile gets a CPU profile of d from the pprof handlers at base.
func cpuProfile(ctx context.Context, base string, d time.Duration) ([]byte, error) {
	secs := max(1, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return nil, err
	}
	// A CPU profile takes as long as it is asked to: the timeout is that
	// and a margin for writing it out.
	client := &http.Client{Timeout: time.Duration(secs)*time.Second + 30*time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rig: profile: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("rig: profile: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rig: profile: status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// CPUProfile records the process's CPU profile for d from its
// /debug/pprof/ (a stage started with PipelineConfig.Profiling).
func (p *Process) CPUProfile(ctx context.Context, d time.Duration) ([]byte, error) {
	if !p.cfg.Profiling {
		return nil, ErrNoProfiles
	}
	addr := p.cfg.ProfilingAddr
	if addr == "" {
		addr = p.Addr()
	}
	return cpuProfile(ctx, "http://"+addr, d)
}

// Profile records the CPU profiles of every stage process that serves
// them and of the nats-server, all over the same d, into dir as
// <process>.cpu.pprof, and returns the files written. ("kycflow run"
// serves its profile on the enricher's address: one profile of the whole
// process, embedded server included.)
func (p *Pipeline) Profile(ctx context.Context, d time.Duration, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	type target struct {
		name string
		get  func(context.Context, time.Duration) ([]byte, error)
	}
	var targets []target
	for _, proc := range slices.Compact(p.stageProcesses()) {
		targets = append(targets, target{proc.Name(), proc.CPUProfile})
	}
	if p.nats != nil {
		targets = append(targets, target{p.nats.Name(), p.nats.CPUProfile})
	}
	var (
		mu    sync.Mutex
		files []string
		errs  []error
		wg    sync.WaitGroup
	)
	for _, t := range targets {
		wg.Go(func() {
			b, err := t.get(ctx, d)
			if errors.Is(err, ErrNoProfiles) {
				return
			}
			if err == nil {
				path := filepath.Join(dir, strings.ReplaceAll(t.name, " ", "-")+".cpu.pprof")
				if err = os.WriteFile(path, b, 0o600); err == nil {
					mu.Lock()
					files = append(files, path)
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(files)
	return files, errors.Join(errs...)
}
