package deploy

import (
	"go/ast"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pkgLabels are the labels a package's metrics carry: every attribute key
// it records, and for a closed label the values it records; a label
// recorded with a value that is not a constant is open (any value).
type pkgLabels struct {
	keys   map[string]bool
	values map[string]map[string]bool // nil: open
}

// labelFuncs are the attribute constructors whose first argument is a
// label name.
var labelFuncs = []string{"String", "Int", "Int64", "Bool", "Float64", "Key"}

// scanLabels finds the labels of each package's metrics: the calls
// attribute.String("key", value) (and Int, Bool, …, Key) of its non-test
// code, and a package-level map metricLabelValues of label → values, which
// closes the labels it names (for a package that records a label from a
// variable that only takes those values).
func scanLabels(cs codeScan) map[string]*pkgLabels {
	out := map[string]*pkgLabels{}
	for dir, p := range cs.pkgs {
		pl := &pkgLabels{keys: map[string]bool{}, values: map[string]map[string]bool{}}
		var resolve func(e ast.Expr) (string, bool)
		imports := map[string]string{} // of the file being read: name → directory
		resolve = func(e ast.Expr) (string, bool) {
			switch e := e.(type) {
			case *ast.BasicLit:
				return stringLit(e)
			case *ast.Ident:
				s, ok := cs.consts[dir][e.Name]
				return s, ok
			case *ast.SelectorExpr: // events.APIPlatform
				if x, ok := e.X.(*ast.Ident); ok {
					s, ok := cs.consts[imports[x.Name]][e.Sel.Name]
					return s, ok
				}
			case *ast.CallExpr: // string(events.APIPlatform)
				if f, ok := e.Fun.(*ast.Ident); ok && f.Name == "string" && len(e.Args) == 1 {
					return resolve(e.Args[0])
				}
			}
			return "", false
		}
		open := map[string]bool{}
		declared := map[string][]string{}
		for _, f := range p.files {
			clear(imports)
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				name := filepath.Base(path)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				imports[name] = strings.TrimPrefix(path, "github.com/kycflow/kycflow/")
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || len(n.Args) == 0 || !slices.Contains(labelFuncs, sel.Sel.Name) {
						return true
					}
					if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "attribute" {
						return true
					}
					key, ok := resolve(n.Args[0])
					if !ok || strings.Contains(key, ".") {
						// A key from a variable (its values are declared),
						// or a span attribute (metric labels have no dots).
						return true
					}
					pl.keys[key] = true
					if len(n.Args) < 2 {
						open[key] = true
						return true
					}
					if v, ok := resolve(n.Args[1]); ok && sel.Sel.Name == "String" {
						if pl.values[key] == nil {
							pl.values[key] = map[string]bool{}
						}
						pl.values[key][v] = true
					} else {
						open[key] = true
					}
				case *ast.ValueSpec:
					for i, name := range n.Names {
						if name.Name != "metricLabelValues" || i >= len(n.Values) {
							continue
						}
						cl, ok := n.Values[i].(*ast.CompositeLit)
						if !ok {
							continue
						}
						for _, el := range cl.Elts {
							kv := el.(*ast.KeyValueExpr)
							key, _ := resolve(kv.Key)
							list, _ := kv.Value.(*ast.CompositeLit)
							if list == nil {
								continue
							}
							for _, v := range list.Elts {
								if s, ok := resolve(v); ok {
									declared[key] = append(declared[key], s)
								}
							}
						}
					}
				}
				return true
			})
		}
		for k := range open {
			pl.values[k] = nil
		}
		for k, vs := range declared {
			pl.keys[k] = true
			pl.values[k] = map[string]bool{}
			for _, v := range vs {
				pl.values[k][v] = true
			}
		}
		out[dir] = pl
	}
	return out
}

// scrapeLabels are labels every series may have from the way Prometheus
// scrapes it or the exporter writes it, not from the code.
var scrapeLabels = []string{"le", "namespace", "pod", "instance", "job", "container", "service", "otel_scope_name", "otel_scope_version"}

// familyLabels maps each exported family to the labels of the package
// that creates it.
func familyLabels(t *testing.T, cs codeScan) map[string]*pkgLabels {
	t.Helper()
	labels := scanLabels(cs)
	names := exportedNames(t, cs.instruments)
	out := map[string]*pkgLabels{}
	for series, family := range names {
		// The instrument whose name is the longest prefix of the family
		// created it.
		var best *instrument
		for i, in := range cs.instruments {
			if strings.HasPrefix(family, in.name) && (best == nil || len(in.name) > len(best.name)) {
				best = &cs.instruments[i]
			}
		}
		if best == nil {
			t.Fatalf("no instrument for %s", family)
		}
		file, _, _ := strings.Cut(best.pos, ":")
		out[series] = labels[filepath.Dir(file)]
		out[family] = out[series] // histograms: the family besides its series
	}
	return out
}

var (
	// selectorRE finds a metric with its label matchers or label list:
	// kycflow_x_total{a="b",c!~"d"} or kycflow_x_total{api,reason}.
	selectorRE = regexp.MustCompile(`\b(kycflow_[a-z0-9_]+)\{([^{}]*)\}`)
	matcherRE  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)")?\s*$`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^()]*)\)`)
)

// checkLabels reports the label names and values that expr (PromQL, or a
// document's text) uses and the code does not emit: a label the metric's
// package never records, a value outside a closed label's values.
// Grouping labels (by, without) must be labels of a metric of expr.
func checkLabels(t *testing.T, where, expr string, fams map[string]*pkgLabels) {
	t.Helper()
	var inExpr []*pkgLabels
	for _, name := range docMetricRE.FindAllString(expr, -1) {
		if pl, ok := fams[name]; ok {
			inExpr = append(inExpr, pl)
		}
	}
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		pl, ok := fams[m[1]]
		if !ok {
			continue // names are checked on their own
		}
		for _, part := range strings.Split(m[2], ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mm := matcherRE.FindStringSubmatch(part)
			if mm == nil {
				t.Errorf("%s: %s{%s}: cannot read the matcher %q", where, m[1], m[2], part)
				continue
			}
			label, op, value := mm[1], mm[2], mm[3]
			if slices.Contains(scrapeLabels, label) {
				continue
			}
			if !pl.keys[label] {
				t.Errorf("%s: %s has no label %q (its labels: %s)", where, m[1], label, keyList(pl))
				continue
			}
			if vals := pl.values[label]; vals != nil && (op == "=" || op == "!=") && !vals[value] {
				t.Errorf("%s: %s{%s=%q}: the code never records that value (it records %s)", where, m[1], label, value, valueList(vals))
			}
		}
	}
	if len(inExpr) == 0 {
		return // another exporter's metrics (the ingress controller's)
	}
	for _, g := range groupingRE.FindAllStringSubmatch(expr, -1) {
		for _, label := range strings.Split(g[1], ",") {
			label = strings.TrimSpace(label)
			if label == "" || slices.Contains(scrapeLabels, label) {
				continue
			}
			if !slices.ContainsFunc(inExpr, func(pl *pkgLabels) bool { return pl.keys[label] }) {
				t.Errorf("%s: grouping by %q, which no metric of the expression has", where, label)
			}
		}
	}
}

func keyList(pl *pkgLabels) string {
	var ks []string
	for k := range pl.keys {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

func valueList(vals map[string]bool) string {
	var vs []string
	for v := range vals {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return strings.Join(vs, ", ")
}

// docs are the documents that name metrics.
var docs = []string{"../README.md", "../docs/operations.md", "../docs/architecture.md"}

// docMetricRE finds metric names in documents.
var docMetricRE = regexp.MustCompile(`\bkycflow_[a-z0-9_]+\b`)

// TestMetricLabelsAsEmitted: every metric name the documents name, and
// every label and label value the documents, the alert rules and the
// dashboard use, is one the code emits: a name of metrics.txt (or one of
// the code's key-value buckets, which share the prefix), a label the
// metric's package records, a value it records for a closed label.
func TestMetricLabelsAsEmitted(t *testing.T) {
	cs := scanCode(t)
	fams := familyLabels(t, cs)
	buckets := map[string]bool{}
	for _, consts := range cs.consts {
		for name, v := range consts {
			if strings.HasSuffix(name, "Bucket") {
				buckets[v] = true
			}
		}
	}
	// A name counts as a metric when it starts like one, kycflow_<area>_
	// of an area the code has metrics in; kycflow_faulthooks (a build
	// tag) does not.
	areas := map[string]bool{}
	for name := range fams {
		areas[strings.SplitN(name, "_", 3)[1]] = true
	}
	metricLike := func(name string) bool {
		parts := strings.SplitN(name, "_", 3)
		return len(parts) == 3 && areas[parts[1]]
	}
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			where := strings.TrimPrefix(doc, "../") + ":" + strconv.Itoa(i+1)
			for _, name := range docMetricRE.FindAllString(line, -1) {
				if _, ok := fams[name]; !ok && !buckets[name] && !cs.buildTags[name] && metricLike(name) {
					t.Errorf("%s: %s is not a metric the code exports", where, name)
				}
			}
			checkLabels(t, where, line, fams)
		}
	}
	for _, e := range dashboardExprs(t) {
		checkLabels(t, "grafana/kycflow.json", e, fams)
	}
	for _, r := range alertRules(t) {
		checkLabels(t, "prometheus/kycflow-alerts.yaml "+r.Alert, r.Expr, fams)
	}
}
