//go:build !linux

package regex

// lowerPriority is a no-op where threads have no priority of their own.
func lowerPriority() {}
