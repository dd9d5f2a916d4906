package internal_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutgoingHTTPClientsHaveTimeouts: every http.Client the code builds
// sets Timeout, and nothing uses http.DefaultClient or the package-level
// helpers that go through it (http.Get, Post, PostForm, Head), which have
// none: a peer that accepts the connection and never answers must not
// hold a command or a worker forever. Tests are exempt.
func TestOutgoingHTTPClientsHaveTimeouts(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		http := importName(f, "net/http")
		if http == "" {
			return nil
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if isSelector(n.Type, http, "Client") && !hasKey(n, "Timeout") {
					t.Errorf("%s: http.Client without a Timeout", fset.Position(n.Pos()))
				}
			case *ast.SelectorExpr:
				for _, name := range []string{"DefaultClient", "Get", "Post", "PostForm", "Head"} {
					if isSelector(n, http, name) {
						t.Errorf("%s: http.%s has no timeout", fset.Position(n.Pos()), name)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked %d files importing net/http: is the walk rooted at the module?", checked)
	}
}

// importName is the name a file uses for the package path, "" when it
// does not import it.
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if strings.Trim(imp.Path.Value, `"`) != path {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return path[strings.LastIndex(path, "/")+1:]
	}
	return ""
}

func isSelector(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok || s.Sel.Name != name {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == pkg
}

func hasKey(c *ast.CompositeLit, key string) bool {
	for _, e := range c.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if id, ok := kv.Key.(*ast.Ident); ok && id.Name == key {
				return true
			}
		}
	}
	return false
}
