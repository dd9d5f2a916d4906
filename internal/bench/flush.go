package bench

import "syscall"

// flushDisk writes the machine's dirty pages out (the binaries just built,
// the last mode's files), so that they are not written back during the
// next measurement, where every JetStream write waits for an fsync.
func flushDisk() { syscall.Sync() }
