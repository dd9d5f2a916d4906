package rig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGoroutineTotal reads the count from a real goroutine profile (this
// test's own, in the text form nats-server's /debug/pprof serves) and
// refuses anything else.
func TestGoroutineTotal(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(buf.String(), "\n")
	var want int
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &want); err != nil {
		t.Fatalf("profile's first line %q: %v", first, err)
	}
	got, err := goroutineTotal(&buf)
	if err != nil || got != want || got < 1 {
		t.Errorf("goroutineTotal: got %d, %v; want %d", got, err, want)
	}
	for _, bad := range []string{"", "goroutine profile: total x\n", "<html>not found</html>\n"} {
		if n, err := goroutineTotal(strings.NewReader(bad)); err == nil {
			t.Errorf("goroutineTotal(%q): got %d, want an error", bad, n)
		}
	}
}

// TestResidentBytesOfAZombie: a child that exited and was not waited for
// has no resident memory to report (ErrNoMemory), not zero; one that runs
// has some, and its descriptors are counted.
func TestResidentBytesOfAZombie(t *testing.T) {
	child := exec.Command("sleep", "600")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep to run: %v", err)
	}
	pid := child.Process.Pid
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	if rss, err := ResidentBytes(pid); err != nil || rss <= 0 {
		t.Errorf("running: got %d bytes, %v; want some", rss, err)
	}
	// A program just started may still open and close files (its
	// libraries, the locale): the count is compared with the directory
	// read just before and just after it, until the three agree (a count
	// that is wrong fails after the tries).
	for try := 0; ; try++ {
		before, err1 := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		n, err := OpenFDs(pid)
		after, err2 := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err1 != nil || err2 != nil {
			t.Fatal(errors.Join(err1, err2))
		}
		if (len(before) != len(after) || n != len(before)) && try < 100 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil || n != len(before) || n < 3 {
			t.Errorf("running: got %d descriptors, %v; want the %d entries of its /proc/PID/fd, stdin, stdout and stderr at least", n, err, len(before))
		}
		break
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for !zombie(pid) {
		if t.Context().Err() != nil {
			t.Fatal("the child did not become a zombie")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rss, err := ResidentBytes(pid); !errors.Is(err, ErrNoMemory) {
		t.Errorf("zombie: got %d bytes, %v; want ErrNoMemory", rss, err)
	}
	_ = child.Wait()
	waited = true
	if _, err := ResidentBytes(pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("waited for: got %v, want its /proc entry gone", err)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return err == nil && bytes.Contains(b, []byte("\nState:\tZ"))
}
