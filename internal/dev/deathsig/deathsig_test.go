package deathsig

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// endThreads ends n OS threads the way the regex worker's start does: a
// goroutine locks itself to its thread and returns.
func endThreads(n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
		}()
	}
	wg.Wait()
}

// alive reports whether the process still runs (a zombie counts as gone:
// it is reaped by Wait, which only the test's goroutine calls).
func alive(cmd *exec.Cmd, exited <-chan struct{}) bool {
	select {
	case <-exited:
		return false
	default:
		return cmd.Process.Signal(syscall.Signal(0)) == nil
	}
}

func start(t *testing.T, via func(*exec.Cmd) error) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := via(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	return cmd, exited
}

// TestChildOutlivesEndedThreads: a child started by Start survives any
// number of threads ending; one forked on a thread that then ends gets its
// death signal (the failure Start exists to prevent).
func TestChildOutlivesEndedThreads(t *testing.T) {
	kept, keptExit := start(t, func(cmd *exec.Cmd) error { return Start(cmd, syscall.SIGKILL) })

	// The control: forked on a locked thread that then ends.
	_, lostExit := start(t, func(cmd *exec.Cmd) error {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		errc := make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			errc <- cmd.Start()
		}()
		return <-errc
	})

	endThreads(50)
	select {
	case <-lostExit:
	case <-time.After(10 * time.Second):
		t.Fatal("the control child outlived the thread that forked it: the kernel's rule this package works around does not hold")
	}
	if !alive(kept, keptExit) {
		t.Error("a child started by Start died when other threads ended")
	}
}
