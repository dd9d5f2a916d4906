package rig

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Metric scrapes the process's /metrics and returns the sum of the
// series of the metric name (as Prometheus exposes it, "…_total" for a
// counter) whose labels include every one of labels.
func (p *Process) Metric(ctx context.Context, name string, labels map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.MetricsAddr()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("rig: %s metrics: %w", p.cfg.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("rig: %s metrics: status %d", p.cfg.Name, resp.StatusCode)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name || !hasLabels(lbls, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}

// hasLabels reports whether the label list of a series (`a="x",b="y"}`)
// holds every label of want.
func hasLabels(list string, want map[string]string) bool {
	for k, v := range want {
		if !strings.Contains(list, k+"="+strconv.Quote(v)) {
			return false
		}
	}
	return true
}

// Goroutines is the number of goroutines the process reports on its
// /metrics (go_goroutines, from the Go collector every kycflow service
// registers).
func (p *Process) Goroutines(ctx context.Context) (int, error) {
	v, err := p.Metric(ctx, "go_goroutines", nil)
	if err != nil {
		return 0, err
	}
	return int(v), nil
}

// Goroutines is the number of goroutines of the server, from the first
// line of its goroutine profile ("goroutine profile: total N") on its
// profiling port (ErrNoProfiles when it has none: a server of a cluster).
func (s *NATSServer) Goroutines(ctx context.Context) (int, error) {
	if s.prof == "" {
		return 0, ErrNoProfiles
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.prof+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("rig: %s goroutines: %w", s.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("rig: %s goroutines: status %d", s.name, resp.StatusCode)
	}
	return goroutineTotal(resp.Body)
}

// goroutineTotal reads N from the first line of a goroutine profile in
// text form ("goroutine profile: total N").
func goroutineTotal(r io.Reader) (int, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("rig: goroutine profile: %w", err)
	}
	n, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("rig: goroutine profile: unexpected first line %q", line)
	}
	v, err := strconv.Atoi(n)
	if err != nil {
		return 0, fmt.Errorf("rig: goroutine profile: %w", err)
	}
	return v, nil
}
