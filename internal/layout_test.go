package internal_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestPkgNeverImportsInternal keeps pkg/* importable on its own: each could
// become a module of its own, and downstream services import pkg/events.
func TestPkgNeverImportsInternal(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/kycflow/kycflow/pkg/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/kycflow/kycflow/internal") {
			t.Errorf("pkg/ depends on %s", dep)
		}
	}
}

// TestEventsIsStandardLibraryOnly keeps the wire contract free of
// dependencies: downstream services import it.
func TestEventsIsStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/kycflow/kycflow/pkg/events").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/kycflow/kycflow/pkg/events" {
			t.Errorf("pkg/events depends on %s", dep)
		}
	}
}

// deps lists the packages pkg depends on, itself included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// TestServicesDoNotLinkTheNATSServer keeps each service binary to what it
// runs: ingest, the enricher and the notifier connect to a server; only
// kycflow (its "run" command) and the tests embed one
// (internal/broker/embedded).
func TestServicesDoNotLinkTheNATSServer(t *testing.T) {
	for _, cmd := range []string{"ingest", "enricher", "notifier"} {
		for _, dep := range deps(t, "github.com/kycflow/kycflow/cmd/"+cmd) {
			if strings.HasPrefix(dep, "github.com/nats-io/nats-server") {
				t.Errorf("cmd/%s depends on %s", cmd, dep)
				break
			}
		}
	}
}

// outsideDocs matches citations of documents a reader of the repository
// does not have: the design brief and the Jumio notes the project was
// started from, and paths of the machine it was written on. Code and docs
// cite docs/architecture.md and docs/jumio.md instead.
var outsideDocs = regexp.MustCompile(`\bDESIGN\b|\bJUMIO\.md|\bSTYLE\.md|/work/(shared|wt|main)\b`)

// docLink matches a citation of a section of the repository's docs, such
// as docs/architecture.md#failure-rules.
var docLink = regexp.MustCompile(`docs/([a-z-]+\.md)#([a-z0-9-]+)`)

// TestCommentsCiteTheRepository: comments (and the repository's other text
// files) cite documents of the repository only, and every cited section
// of docs/*.md exists.
func TestCommentsCiteTheRepository(t *testing.T) {
	root := ".."
	anchors := map[string]map[string]bool{}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		anchors[filepath.Base(d)] = headingAnchors(string(b))
	}
	check := func(path string, line int, text string) {
		if m := outsideDocs.FindString(text); m != "" {
			t.Errorf("%s:%d cites %q, which is not in the repository: cite docs/architecture.md or docs/jumio.md", path, line, m)
		}
		for _, m := range docLink.FindAllStringSubmatch(text, -1) {
			if a, ok := anchors[m[1]]; !ok || !a[m[2]] {
				t.Errorf("%s:%d cites docs/%s#%s, which has no such section", path, line, m[1], m[2])
			}
		}
	}
	files, cited := 0, 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name != ".." && (strings.HasPrefix(name, ".") && name != ".ci" || name == "kycflow-data") {
				return filepath.SkipDir
			}
			return nil
		}
		if !textFile(path) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		cited += len(docLink.FindAll(b, -1))
		rel, _ := filepath.Rel(root, path)
		if filepath.Ext(path) != ".go" {
			for i, l := range strings.Split(string(b), "\n") {
				check(rel, i+1, l)
			}
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, b, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				check(rel, fset.Position(c.Pos()).Line, c.Text)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 || cited == 0 {
		t.Errorf("looked at %d files with %d section citations; the walk is broken", files, cited)
	}
}

// textFile reports whether path is one of the repository's text files
// that may cite a document.
func textFile(path string) bool {
	switch filepath.Ext(path) {
	case ".go", ".md", ".yaml", ".yml", ".conf", ".sh", ".txt":
		return true
	}
	switch filepath.Base(path) {
	case "Makefile", "Dockerfile", "run":
		return true
	}
	return false
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown document: lower case, punctuation dropped, spaces as '-'.
func headingAnchors(md string) map[string]bool {
	out := map[string]bool{}
	inBlock := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inBlock = !inBlock
			continue
		}
		title, ok := strings.CutPrefix(l, "#")
		if inBlock || !ok {
			continue
		}
		title = strings.TrimSpace(strings.TrimLeft(title, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ' || r == '-':
				b.WriteRune('-')
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}
