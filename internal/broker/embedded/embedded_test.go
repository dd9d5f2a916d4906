package embedded

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// TestAddressInUse: a taken address is reported as such at once, not as a
// server that did not start.
func TestAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	s, err := Run(Config{StoreDir: t.TempDir(), Host: "127.0.0.1", Port: port})
	if err == nil {
		s.Stop()
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("got %v, want EADDRINUSE", err)
	}
}
