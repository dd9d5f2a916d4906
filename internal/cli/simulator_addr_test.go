package cli

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulatorKeepsItsPort: started on any free port, the simulator of a
// data directory listens on the port of its last start again, so that the
// links in results stay the same across restarts; when that port is taken,
// it takes another, and keeps that one next time.
func TestSimulatorKeepsItsPort(t *testing.T) {
	dir := t.TempDir()
	const cb = "http://127.0.0.1:1/callbacks/platform"
	first, err := startSimulator(dir, "127.0.0.1:0", cb)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	saved, err := os.ReadFile(filepath.Join(dir, simulatorAddrFile))
	if err != nil || "http://"+strings.TrimSpace(string(saved)) != first.URL() {
		t.Fatalf("saved address %q (%v), want the first start's %s", saved, err, first.URL())
	}

	// A last port outside the range the kernel hands out for port 0 and
	// outgoing connections, so that no other test takes it meanwhile.
	last := freePortBelowEphemeral(t)
	if err := os.WriteFile(filepath.Join(dir, simulatorAddrFile), []byte(last+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := startSimulator(dir, "127.0.0.1:0", cb)
	if err != nil {
		t.Fatal(err)
	}
	if again.URL() != "http://"+last {
		t.Errorf("restarted at %s, want http://%s", again.URL(), last)
	}
	// Its port taken (by the simulator itself, still running): another.
	other, err := startSimulator(dir, "127.0.0.1:0", cb)
	if err != nil {
		t.Fatalf("port of the last start taken: %v", err)
	}
	defer other.Close()
	defer again.Close()
	if other.URL() == again.URL() {
		t.Errorf("two simulators at %s", other.URL())
	}
}

func freePortBelowEphemeral(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(10000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port between 20000 and 30000")
	return ""
}
