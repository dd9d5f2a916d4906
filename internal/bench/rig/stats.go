package rig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on Linux).
const clockTick = 10 * time.Millisecond

// readStats reads VmRSS and VmHWM from /proc/<pid>/status and the CPU time
// from /proc/<pid>/stat; before is added to the CPU time.
func readStats(pid int, before time.Duration) (Stats, error) {
	s, _, err := readStatus(pid)
	if err != nil {
		return Stats{}, err
	}
	cpu, err := processCPU(pid)
	if err != nil {
		return Stats{}, err
	}
	s.CPU = before + cpu
	return s, nil
}

// readStatus reads VmRSS and VmHWM from /proc/<pid>/status; rss says
// whether it has a VmRSS line (a zombie, exited and not yet waited for,
// has none).
func readStatus(pid int) (s Stats, rss bool, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Stats{}, false, fmt.Errorf("rig: %w", err)
	}
	for line := range bytes.Lines(data) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "VmRSS":
			s.RSS, rss = kib(v), true
		case "VmHWM":
			s.HWM = kib(v)
		}
	}
	return s, rss, nil
}

// ErrNoMemory is returned by ResidentBytes for a process that has no
// resident memory to report: it has exited and not been waited for yet.
var ErrNoMemory = errors.New("no VmRSS: the process has exited")

// ResidentBytes is the resident memory of process pid (VmRSS of
// /proc/<pid>/status), in bytes.
func ResidentBytes(pid int) (int64, error) {
	s, rss, err := readStatus(pid)
	if err == nil && !rss {
		err = fmt.Errorf("rig: /proc/%d/status: %w", pid, ErrNoMemory)
	}
	return s.RSS, err
}

// OpenFDs counts the open file descriptors of process pid: the entries of
// /proc/<pid>/fd (sockets, pipes, files, the runtime's epoll and event
// descriptors alike).
func OpenFDs(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("rig: %w", err)
	}
	return len(entries), nil
}

// kib reads "  1234 kB" as bytes.
func kib(v []byte) int64 {
	f := strings.Fields(string(v))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n << 10
}

// processCPU is the user plus system time of pid (fields 14 and 15 of
// /proc/<pid>/stat, after the parenthesised command name).
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("rig: %w", err)
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("rig: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("rig: /proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("rig: /proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}
