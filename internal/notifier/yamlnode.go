// The YAML helpers of the routes file parser: typed values read from
// nodes, each problem reported at its line.

package notifier

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kycflow/kycflow/internal/config"
)

// cmpNode is a, or b when a is nil: the node a problem is reported at.
func cmpNode(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

// mapping calls fn for each key of mapping node n; path names n in errors.
func (p *parser) mapping(n *yaml.Node, path string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, fmt.Errorf("%w: want a mapping", ErrInvalidValue))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if seen[k.Value] {
			p.fail(k, join(path, k.Value), fmt.Errorf("%w: key given twice", ErrInvalidValue))
			continue
		}
		seen[k.Value] = true
		fn(k.Value, k, v)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!map" || n.Tag == "!!seq" {
		p.fail(n, path, fmt.Errorf("%w: want a string", ErrInvalidValue))
		return "", false
	}
	s := strings.TrimSpace(n.Value)
	if s == "" {
		p.fail(n, path, fmt.Errorf("%w: empty", ErrMissing))
		return "", false
	}
	return s, true
}

func (p *parser) list(n *yaml.Node, path string, norm func(string) string) []string {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, fmt.Errorf("%w: want a list", ErrInvalidValue))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		s, ok := p.str(deref(item), path)
		if !ok {
			continue
		}
		s = norm(s)
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) bool(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.fail(n, path, fmt.Errorf("%w: want true or false", ErrInvalidValue))
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(n.Value))
	if err != nil {
		p.fail(n, path, fmt.Errorf("%w: want true or false", ErrInvalidValue))
		return false, false
	}
	return b, true
}

func (p *parser) intIn(n *yaml.Node, path string, lo, hi int) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.fail(n, path, fmt.Errorf("%w: want a whole number", ErrInvalidValue))
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		p.fail(n, path, fmt.Errorf("%w: %s (want %d to %d)", ErrInvalidValue, n.Value, lo, hi))
		return 0
	}
	return v
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		p.fail(n, path, fmt.Errorf("%w: %q is not a duration (\"10s\", \"5m\")", ErrInvalidValue, s))
		return 0, false
	}
	return d, true
}
