package regex

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// The regex worker is this same executable started with workerArg as its
// only argument: its main calls ServeWorkerIfAsked first thing, which then
// serves matches on stdin and stdout instead of running the program, so
// every binary that matches regexes (the Lambda bootstraps, the watcher
// command, test binaries) can be its own worker.
//
// Protocol, little-endian: the worker first writes workerHello; a child that
// does not within helloTimeout is no worker (its main lacks the call) and is
// killed, and the gate then matches in its own process. A request is id u64,
// match timeout ns i64, pattern length u32, body length u32, pattern, body; a
// reply is id u64 and one code byte. The worker answers in any order,
// running requests concurrently, and exits when its stdin ends.
const (
	workerArg    = "__watcher_regex_worker__"
	workerHello  = "WRX1"
	helloTimeout = 5 * time.Second
)

// ServeWorkerIfAsked serves backtracking matches and exits the process when
// it was started as the regex worker, and returns at once otherwise. The
// gate's worker is this same executable started with a marker argument, so
// every main that can match regexes, test mains included, calls this first
// thing, before it parses flags or does any work. An executable that does
// not call it still matches correctly, in its own process: the child that
// runs its main instead never says the worker's hello, and the gate kills it.
func ServeWorkerIfAsked() {
	if startedAsWorker() {
		os.Exit(serve(os.Stdin, os.Stdout, os.Stderr))
	}
}

func startedAsWorker() bool {
	return len(os.Args) == 2 && os.Args[1] == workerArg
}

// Limits on a request, so a corrupt stream fails instead of allocating.
const (
	maxPattern = 1 << 20
	maxBody    = 256 << 20
)

var (
	errMatchPanicked = errors.New("regexp2 panicked matching the body")
	errMatchFailed   = errors.New("regexp2 failed matching the body")
	errNotCompiled   = errors.New("the regex worker could not compile the pattern")
	errWorkerExited  = errors.New("the regex worker exited during the match")
)

// Reply codes: 0 no match, 1 match, then replyErrs[code-2].
var replyErrs = []error{ErrTimeout, ErrBacktrackLimit, errMatchPanicked, errMatchFailed, errNotCompiled}

func encodeReply(ok bool, err error) byte {
	if err == nil {
		if ok {
			return 1
		}
		return 0
	}
	for i, e := range replyErrs {
		if errors.Is(err, e) {
			return byte(i + 2)
		}
	}
	return encodeReply(false, errMatchFailed)
}

type reply struct {
	ok  bool
	err error
}

func decodeReply(code byte) reply {
	switch {
	case code <= 1:
		return reply{ok: code == 1}
	case int(code)-2 < len(replyErrs):
		return reply{err: replyErrs[code-2]}
	}
	return reply{err: fmt.Errorf("the regex worker answered with unknown code %d", code)}
}

// worker is the parent's side of one worker process.
type worker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	slots chan struct{} // the gate's: a slot is given back with each reply

	mu      sync.Mutex
	out     *bufio.Writer
	next    uint64
	pending map[uint64]chan reply
	dead    bool
}

// startWorker starts the worker process, exe with workerArg (this executable
// when exe is ""), from a thread at the lowest CPU priority, which the
// process inherits for all its threads. The worker must say workerHello
// within hello; otherwise it is killed and reaped, and startWorker fails.
func startWorker(exe string, hello time.Duration, slots chan struct{}) (*worker, error) {
	if exe == "" {
		if startedAsWorker() {
			// Its child would be another copy of this main.
			return nil, errors.New("this process was started as the regex worker, but its main does not call ServeWorkerIfAsked")
		}
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("start the regex worker: %w", err)
		}
	}
	// The worker lives as long as this process: it ends when its stdin does.
	cmd := exec.CommandContext(context.Background(), exe, workerArg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start the regex worker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start the regex worker: %w", err)
	}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, so its
		// lowered priority stays with the worker.
		runtime.LockOSThread()
		lowerPriority()
		started <- cmd.Start()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start the regex worker: %w", err)
	}
	br := bufio.NewReader(stdout)
	if err := awaitHello(br, hello); err != nil {
		// Wait closes stdout, which ends a read still waiting for the hello.
		_ = cmd.Process.Kill()
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start the regex worker (does its main call regex.ServeWorkerIfAsked?): %s %s: %w", exe, workerArg, err)
	}
	w := &worker{cmd: cmd, stdin: stdin, slots: slots, out: bufio.NewWriterSize(stdin, 64<<10), pending: map[uint64]chan reply{}}
	go w.read(br)
	return w, nil
}

// awaitHello reads workerHello from the worker's stdout, for at most d.
func awaitHello(br *bufio.Reader, d time.Duration) error {
	said := make(chan error, 1)
	go func() {
		var got [len(workerHello)]byte
		n, err := io.ReadFull(br, got[:])
		switch {
		case err != nil:
			err = fmt.Errorf("no worker hello, only %q then %w", got[:n], err)
		case string(got[:]) != workerHello:
			err = fmt.Errorf("%q is not the worker hello %q", got[:], workerHello)
		}
		said <- err
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-said:
		return err
	case <-timer.C:
		return fmt.Errorf("no worker hello within %s", d)
	}
}

// send asks the worker to search body with r's backtracking engine. The
// reply arrives on the returned channel, and the reader gives the caller's
// slot back then; when send fails, the slot stays the caller's to give back.
func (w *worker) send(r *Regex, body []byte) (<-chan reply, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead {
		return nil, errWorkerExited
	}
	id := w.next
	w.next++
	var hdr [24]byte
	binary.LittleEndian.PutUint64(hdr[0:], id)
	binary.LittleEndian.PutUint64(hdr[8:], uint64(r.bt.MatchTimeout))
	binary.LittleEndian.PutUint32(hdr[16:], uint32(len(r.pattern)))
	binary.LittleEndian.PutUint32(hdr[20:], uint32(len(body)))
	_, _ = w.out.Write(hdr[:])
	_, _ = w.out.WriteString(r.pattern)
	_, _ = w.out.Write(body)
	if err := w.out.Flush(); err != nil {
		w.dead = true
		return nil, fmt.Errorf("send to the regex worker: %w", err)
	}
	replies := make(chan reply, 1)
	w.pending[id] = replies
	return replies, nil
}

func (w *worker) exited() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dead
}

// read delivers replies until the worker's stdout ends, then fails what is
// still pending and reaps the process.
func (w *worker) read(br *bufio.Reader) {
	var buf [9]byte
	for {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			break
		}
		id := binary.LittleEndian.Uint64(buf[:])
		w.mu.Lock()
		replies, ok := w.pending[id]
		delete(w.pending, id)
		w.mu.Unlock()
		if ok {
			replies <- decodeReply(buf[8])
			<-w.slots
		}
	}
	w.mu.Lock()
	w.dead = true
	pending := w.pending
	w.pending = nil
	w.mu.Unlock()
	for _, replies := range pending {
		replies <- reply{err: errWorkerExited}
		<-w.slots
	}
	_ = w.stdin.Close()
	_ = w.cmd.Wait()
}

// serve is the worker's side: it says workerHello on out, then answers
// requests from in on out until in ends (0) or breaks (1, saying why on
// errOut).
func serve(in io.Reader, out, errOut io.Writer) int {
	br := bufio.NewReaderSize(in, 64<<10)
	bw := bufio.NewWriter(out)
	_, _ = bw.WriteString(workerHello)
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(errOut, "regex worker: say hello:", err)
		return 1
	}
	var mu sync.Mutex // guards bw
	type key struct {
		pattern string
		timeout time.Duration
	}
	compiled := map[key]*Regex{}
	var hdr [24]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(errOut, "regex worker: read a request:", err)
			return 1
		}
		id := binary.LittleEndian.Uint64(hdr[0:])
		k := key{timeout: time.Duration(binary.LittleEndian.Uint64(hdr[8:]))}
		plen, blen := binary.LittleEndian.Uint32(hdr[16:]), binary.LittleEndian.Uint32(hdr[20:])
		if plen > maxPattern || blen > maxBody {
			fmt.Fprintf(errOut, "regex worker: request of a %d-byte pattern and a %d-byte body is over the limits\n", plen, blen)
			return 1
		}
		data := make([]byte, int(plen)+int(blen))
		if _, err := io.ReadFull(br, data); err != nil {
			fmt.Fprintln(errOut, "regex worker: read a request:", err)
			return 1
		}
		k.pattern = string(data[:plen])
		re, ok := compiled[k]
		if !ok {
			re, _ = Compile(k.pattern, k.timeout)
			if len(compiled) >= 4096 {
				clear(compiled)
			}
			compiled[k] = re
		}
		go func(body []byte) {
			code := encodeReply(false, errNotCompiled)
			if re != nil && re.bt != nil {
				code = encodeReply(re.matchBacktrack(body))
			}
			var rep [9]byte
			binary.LittleEndian.PutUint64(rep[:], id)
			rep[8] = code
			mu.Lock()
			defer mu.Unlock()
			_, _ = bw.Write(rep[:])
			_ = bw.Flush() // a parent that is gone ends stdin too
		}(data[plen:])
	}
}
