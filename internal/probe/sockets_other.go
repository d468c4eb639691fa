//go:build !unix

package probe

// descriptorLimit is unknown off Unix: no socket budget.
func descriptorLimit() int { return 0 }
