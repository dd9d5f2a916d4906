package rig

import "syscall"

// sysProcAttr kills a child with the rig: the kernel sends it SIGKILL when
// the rig's process dies, so that no server outlives an interrupted run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
