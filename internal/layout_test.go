package internal_test

import (
	"os/exec"
	"strings"
	"testing"
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
