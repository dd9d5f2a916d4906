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
