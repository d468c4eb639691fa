//go:build unix

package probe

import (
	"math"
	"syscall"
)

// descriptorLimit is the process's soft RLIMIT_NOFILE, 0 when unlimited or
// unknown. (Go raises the soft limit to the hard one at start-up; Lambda's
// are both 1,024.)
func descriptorLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return 0
	}
	return int(rl.Cur)
}
