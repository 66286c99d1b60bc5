package npmpeers

import "syscall"

// dieWithParent has the peer killed when the test process dies without
// stopping it (a test's timeout), so that no peer outlives its test.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
