package regex

import "golang.org/x/sys/unix"

// lowerPriority puts the calling OS thread in the SCHED_IDLE class, which
// runs only when no other thread wants the CPU and which any thread may
// enter; threads and processes it creates inherit it. On failure the thread
// keeps its priority.
func lowerPriority() {
	_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
}
