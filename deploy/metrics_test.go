package deploy

import (
	"encoding/json"
	"flag"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/metric"
	"go.yaml.in/yaml/v3"

	"github.com/kycflow/kycflow/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite metrics.txt from the code")

// instrument is an OpenTelemetry instrument created somewhere in the code.
type instrument struct {
	kind, name, unit string
	pos              string
}

// instrumentKinds are the meter methods that create instruments.
var instrumentKinds = []string{
	"Int64Counter", "Float64Counter", "Int64UpDownCounter", "Float64UpDownCounter",
	"Int64Histogram", "Float64Histogram", "Int64Gauge", "Float64Gauge",
	"Int64ObservableCounter", "Float64ObservableCounter", "Int64ObservableUpDownCounter",
	"Float64ObservableUpDownCounter", "Int64ObservableGauge", "Float64ObservableGauge",
}

// scanInstruments finds every instrument the module's non-test code
// creates, resolving names given as string constants (of the same package
// or another one of the module) and through small helper closures such as
// counter := func(name, desc string) metric.Int64Counter {…}.
func scanInstruments(t *testing.T) []instrument {
	return scanCode(t).instruments
}

// pkgFiles are the parsed non-test files of one package.
type pkgFiles struct{ files []*ast.File }

// codeScan is what scanCode found in the module's non-test code.
type codeScan struct {
	instruments []instrument
	// pkgs are the parsed files and consts the string constants, by
	// package directory relative to the module root.
	pkgs   map[string]*pkgFiles
	consts map[string]map[string]string
	// buildTags are the tags the code's //go:build lines name
	// (kycflow_faulthooks): documents name them, and they are no metrics.
	buildTags map[string]bool
}

func scanCode(t *testing.T) codeScan {
	t.Helper()
	fset := token.NewFileSet()
	pkgs := map[string]*pkgFiles{} // directory relative to the module root
	buildTags := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != ".." && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return err
		}
		for _, g := range f.Comments {
			for _, c := range g.List {
				if x, err := constraint.Parse(c.Text); err == nil {
					x.Eval(func(tag string) bool { buildTags[tag] = true; return true })
				}
			}
		}
		dir, _ := filepath.Rel("..", filepath.Dir(path))
		if pkgs[dir] == nil {
			pkgs[dir] = &pkgFiles{}
		}
		pkgs[dir].files = append(pkgs[dir].files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// String constants per package directory.
	consts := map[string]map[string]string{}
	for dir, p := range pkgs {
		consts[dir] = map[string]string{}
		for _, f := range p.files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if s, ok := stringLit(vs.Values[i]); ok {
								consts[dir][n.Name] = s
							}
						}
					}
				}
			}
		}
	}
	const module = "github.com/kycflow/kycflow/"
	var out []instrument
	for dir, p := range pkgs {
		for _, f := range p.files {
			imports := map[string]string{} // name -> directory
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, module) {
					continue
				}
				name := filepath.Base(path)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				imports[name] = strings.TrimPrefix(path, module)
			}
			resolve := func(e ast.Expr) (string, bool) {
				switch e := e.(type) {
				case *ast.BasicLit:
					return stringLit(e)
				case *ast.Ident:
					s, ok := consts[dir][e.Name]
					return s, ok
				case *ast.SelectorExpr:
					if x, ok := e.X.(*ast.Ident); ok {
						s, ok := consts[imports[x.Name]][e.Sel.Name]
						return s, ok
					}
				}
				return "", false
			}
			// helpers: closures whose body creates an instrument named by
			// one of their parameters.
			type helper struct {
				kind, unit string
				param      int
			}
			helpers := map[string]helper{}
			ast.Inspect(f, func(n ast.Node) bool {
				as, ok := n.(*ast.AssignStmt)
				if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
					return true
				}
				fl, ok := as.Rhs[0].(*ast.FuncLit)
				id, ok2 := as.Lhs[0].(*ast.Ident)
				if !ok || !ok2 {
					return true
				}
				var params []string
				for _, fld := range fl.Type.Params.List {
					for _, n := range fld.Names {
						params = append(params, n.Name)
					}
				}
				ast.Inspect(fl.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					kind := callKind(call)
					if kind == "" || len(call.Args) == 0 {
						return true
					}
					if arg, ok := call.Args[0].(*ast.Ident); ok {
						if i := slices.Index(params, arg.Name); i >= 0 {
							helpers[id.Name] = helper{kind: kind, unit: unitOf(call, resolve), param: i}
						}
					}
					return true
				})
				return true
			})
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				pos := fset.Position(call.Pos())
				where := filepath.ToSlash(strings.TrimPrefix(pos.Filename, "../")) + ":" + strconv.Itoa(pos.Line)
				if id, ok := call.Fun.(*ast.Ident); ok {
					if h, ok := helpers[id.Name]; ok && h.param < len(call.Args) {
						name, ok := resolve(call.Args[h.param])
						if !ok {
							t.Errorf("%s: metric name is not a string constant", where)
							return true
						}
						unit := h.unit
						if h.param+2 < len(call.Args) { // (name, unit, desc) helpers
							if u, ok := resolve(call.Args[h.param+1]); ok && unit == "" {
								unit = u
							}
						}
						out = append(out, instrument{kind: h.kind, name: name, unit: unit, pos: where})
					}
					return true
				}
				kind := callKind(call)
				if kind == "" {
					return true
				}
				if _, isParam := call.Args[0].(*ast.Ident); isParam {
					if _, ok := resolve(call.Args[0]); !ok {
						return true // inside a helper, resolved at its calls
					}
				}
				name, ok := resolve(call.Args[0])
				if !ok {
					t.Errorf("%s: metric name is not a string constant", where)
					return true
				}
				out = append(out, instrument{kind: kind, name: name, unit: unitOf(call, resolve), pos: where})
				return true
			})
		}
	}
	slices.SortFunc(out, func(a, b instrument) int { return strings.Compare(a.name, b.name) })
	return codeScan{instruments: out, pkgs: pkgs, consts: consts, buildTags: buildTags}
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// callKind returns the instrument kind a call creates ("Int64Counter"),
// or "" when it creates none.
func callKind(call *ast.CallExpr) string {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !slices.Contains(instrumentKinds, sel.Sel.Name) {
		return ""
	}
	return sel.Sel.Name
}

// unitOf returns the unit of a metric.WithUnit option among the call's
// arguments.
func unitOf(call *ast.CallExpr, resolve func(ast.Expr) (string, bool)) string {
	for _, a := range call.Args[1:] {
		c, ok := a.(*ast.CallExpr)
		if !ok || len(c.Args) != 1 {
			continue
		}
		if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "WithUnit" {
			if u, ok := resolve(c.Args[0]); ok {
				return u
			}
		}
	}
	return ""
}

// exportedNames creates each instrument on a real telemetry setup,
// records one value, and returns the series names /metrics shows for it
// (histograms: _bucket, _sum and _count).
func exportedNames(t *testing.T, ins []instrument) map[string]string {
	t.Helper()
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "test", LogFormat: "json", LogLevel: "error"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(t.Context()) //nolint:errcheck // test
	m := tel.MeterProvider.Meter("deploy_test")
	ctx := t.Context()
	for _, in := range ins {
		u := metric.WithUnit(in.unit)
		var err error
		switch in.kind {
		case "Int64Counter", "Int64ObservableCounter":
			var c metric.Int64Counter
			if c, err = m.Int64Counter(in.name, u); err == nil {
				c.Add(ctx, 1)
			}
		case "Float64Counter", "Float64ObservableCounter":
			var c metric.Float64Counter
			if c, err = m.Float64Counter(in.name, u); err == nil {
				c.Add(ctx, 1)
			}
		case "Int64UpDownCounter", "Float64UpDownCounter", "Int64ObservableUpDownCounter", "Float64ObservableUpDownCounter":
			var c metric.Int64UpDownCounter
			if c, err = m.Int64UpDownCounter(in.name, u); err == nil {
				c.Add(ctx, 1)
			}
		case "Int64Histogram", "Float64Histogram":
			var h metric.Float64Histogram
			if h, err = m.Float64Histogram(in.name, u); err == nil {
				h.Record(ctx, 1)
			}
		default: // gauges
			var g metric.Float64Gauge
			if g, err = m.Float64Gauge(in.name, u); err == nil {
				g.Record(ctx, 1)
			}
		}
		if err != nil {
			t.Fatalf("%s: %s %q: %v", in.pos, in.kind, in.name, err)
		}
	}
	families, err := tel.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := map[string]string{} // series name -> family name
	for _, f := range families {
		n := f.GetName()
		if !strings.HasPrefix(n, "kycflow_") {
			continue
		}
		switch f.GetType().String() {
		case "HISTOGRAM":
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[n+s] = n
			}
		default:
			names[n] = n
		}
	}
	return names
}

// TestMetricNames: every instrument of the code is named kycflow_<area>_…
// and exported under a Prometheus name that says its unit; metrics.txt
// lists them (go test ./deploy -update rewrites it).
func TestMetricNames(t *testing.T) {
	ins := scanInstruments(t)
	if len(ins) < 20 {
		t.Fatalf("found %d instruments; the scan is broken", len(ins))
	}
	for _, in := range ins {
		if !metricNameRE.MatchString(in.name) {
			t.Errorf("%s: metric %q: want kycflow_<area>_<name> in snake_case", in.pos, in.name)
		}
		if strings.Contains(in.kind, "Histogram") && in.unit != "s" && in.unit != "By" {
			t.Errorf("%s: histogram %q has unit %q; want s or By", in.pos, in.name, in.unit)
		}
	}
	names := exportedNames(t, ins)
	families := map[string]bool{}
	for _, f := range names {
		families[f] = true
	}
	var list []string
	for f := range families {
		list = append(list, f)
	}
	slices.Sort(list)
	got := strings.Join(list, "\n") + "\n"
	if *update {
		if err := os.WriteFile("metrics.txt", []byte(metricsHeader+got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.TrimPrefix(string(want), metricsHeader), got); diff != "" {
		t.Errorf("metrics.txt is stale (go test ./deploy -update) (-file +code):\n%s", diff)
	}
}

const metricsHeader = "# Every kycflow_* metric family the services export on /metrics, from the\n" +
	"# code (go test ./deploy -update). Histograms add _bucket, _sum and _count.\n"

var metricNameRE = regexp.MustCompile(`^kycflow_[a-z]+(_[a-z0-9]+)+$`)

// seriesRE finds metric names in PromQL expressions.
var seriesRE = regexp.MustCompile(`\bkycflow_[a-z0-9_]+\b`)

// TestDashboardAndAlertsUseExportedMetrics: every kycflow_* series the
// Grafana dashboard and the alert rules query is one the code exports.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	names := exportedNames(t, scanInstruments(t))
	check := func(where, expr string) {
		for _, s := range seriesRE.FindAllString(expr, -1) {
			if _, ok := names[s]; !ok {
				t.Errorf("%s: %s is not a metric the code exports", where, s)
			}
		}
	}
	for _, e := range dashboardExprs(t) {
		check("grafana/kycflow.json", e)
	}
	for _, r := range alertRules(t) {
		check("prometheus/kycflow-alerts.yaml "+r.Alert, r.Expr)
	}
}

// dashboardExprs returns every PromQL expression of the dashboard's panels
// and template variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("grafana/kycflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana/kycflow.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard without uid or title")
	}
	var exprs []string
	for _, p := range d.Panels {
		if p.Type == "row" || p.Type == "text" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		switch q := v.Query.(type) {
		case string:
			exprs = append(exprs, q)
		case map[string]any:
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	if len(exprs) < 10 {
		t.Errorf("dashboard has %d queries", len(exprs))
	}
	return exprs
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// alertRules decodes the Prometheus rule file strictly and checks each
// rule's shape: a severity, a summary, a description and a runbook link
// to a section of docs/operations.md that exists.
func alertRules(t *testing.T) []alertRule {
	t.Helper()
	f, err := os.Open("prometheus/kycflow-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var file struct {
		Groups []struct {
			Name     string      `yaml:"name"`
			Interval string      `yaml:"interval"`
			Rules    []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("prometheus/kycflow-alerts.yaml: %v", err)
	}
	runbook, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(runbook))
	var rules []alertRule
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			switch {
			case r.Alert == "" || r.Expr == "":
				t.Errorf("group %s: a rule without alert or expr", g.Name)
			case seen[r.Alert]:
				t.Errorf("alert %s defined twice", r.Alert)
			case r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning":
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, r.Labels["severity"])
			case r.Annotations["summary"] == "" || r.Annotations["description"] == "":
				t.Errorf("alert %s: summary and description required", r.Alert)
			case strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")"):
				t.Errorf("alert %s: unbalanced parentheses", r.Alert)
			}
			seen[r.Alert] = true
			link := r.Annotations["runbook_url"]
			_, anchor, ok := strings.Cut(link, "docs/operations.md#")
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q does not name a section of docs/operations.md", r.Alert, link)
			}
			rules = append(rules, r)
		}
	}
	return rules
}

// markdownAnchors returns the anchors GitHub makes of a document's
// headings.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.Lines(doc) {
		h := strings.TrimLeft(line, "#")
		if h == line || !strings.HasPrefix(h, " ") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(h)) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		out[b.String()] = true
	}
	return out
}

// TestAlertsCoverTheRunbook: the alerts the runbook promises exist.
func TestAlertsCoverTheRunbook(t *testing.T) {
	var names []string
	for _, r := range alertRules(t) {
		names = append(names, r.Alert)
	}
	for _, want := range []string{
		"KycflowDeadLettersGrowing", "KycflowConsumerLagHigh", "KycflowJumioRateLimited",
		"KycflowIngestServerErrors", "KycflowIngestUnavailable", "KycflowNotifierRouteDisabled",
		"KycflowNotReady",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}
}
