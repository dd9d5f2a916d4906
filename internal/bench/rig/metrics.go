package rig

import (
	"bufio"
	"context"
	"fmt"
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
