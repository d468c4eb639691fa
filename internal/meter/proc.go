package meter

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// userHZ is the unit of the times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Lambda runs (x86_64 and arm64).
const userHZ = 100

// LambdaProcessStart returns when this process started if it runs as an
// on-demand Lambda function, whose init phase is billed (provided.al2023
// bills it as duration); else, or when /proc cannot tell, zero. Provisioned
// concurrency and SnapStart initialise ahead of time and bill it otherwise.
func LambdaProcessStart(getenv func(string) string, now time.Time) time.Time {
	if getenv("AWS_LAMBDA_INITIALIZATION_TYPE") != "on-demand" {
		return time.Time{}
	}
	start, err := processStart("/proc", now)
	if err != nil {
		return time.Time{}
	}
	return start
}

// processStart returns when the calling process started, from proc (the
// /proc mount): its start time in clock ticks since boot (field 22 of
// self/stat) against the time since boot (uptime), both to 10 ms.
func processStart(proc string, now time.Time) (time.Time, error) {
	stat, err := os.ReadFile(filepath.Join(proc, "self", "stat"))
	if err != nil {
		return time.Time{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: the fields after it follow its last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("process start: %s/self/stat has no command name", proc)
	}
	fields := bytes.Fields(stat[i+1:])
	const startField = 22 - 3 // fields 3.. follow the name
	if len(fields) <= startField {
		return time.Time{}, fmt.Errorf("process start: %s/self/stat has %d fields", proc, len(fields)+2)
	}
	ticks, err := strconv.ParseInt(string(fields[startField]), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("process start: %w", err)
	}
	up, err := os.ReadFile(filepath.Join(proc, "uptime"))
	if err != nil {
		return time.Time{}, err
	}
	f := bytes.Fields(up)
	if len(f) == 0 {
		return time.Time{}, fmt.Errorf("process start: %s/uptime is empty", proc)
	}
	uptime, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("process start: %w", err)
	}
	since := time.Duration(math.Round(uptime*userHZ))*time.Second/userHZ - time.Duration(ticks)*time.Second/userHZ
	return now.Add(-since), nil
}
