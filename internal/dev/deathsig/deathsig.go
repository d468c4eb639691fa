// Package deathsig starts child processes (test servers, emulators,
// measured functions) that the kernel signals when this process exits,
// however it exits, so that nothing is left behind.
//
// Linux sends the death signal (PR_SET_PDEATHSIG) when the thread that
// forked the child exits, not the process. Go ends a thread whenever a
// goroutine locked to it with runtime.LockOSThread returns; the regex
// worker's start does so on purpose, to take its lowered priority with it.
// A child forked on such a thread gets its death signal mid-run; that is
// the likely cause of the test suite's shared PostgreSQL stopping at once in
// two clean-clone runs (inferred: the server's log was gone). So every child
// is forked on one thread kept for the purpose, which lives as long as the
// process.
package deathsig

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

var (
	once sync.Once
	reqs chan func()
)

// Start starts cmd with sig as its death signal, forked on the thread that
// lives as long as the process. It keeps cmd's other SysProcAttr settings.
func Start(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
	var err error
	onForkThread(func() { err = cmd.Start() })
	return err
}

// onForkThread runs f on the fork thread and waits for it.
func onForkThread(f func()) {
	once.Do(func() {
		reqs = make(chan func())
		go func() {
			// Never unlocked, and this goroutine never returns: the thread
			// is never ended.
			runtime.LockOSThread()
			for f := range reqs {
				f()
			}
		}()
	})
	done := make(chan struct{})
	reqs <- func() {
		defer close(done)
		f()
	}
	<-done
}
