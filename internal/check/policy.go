package check

import "github.com/watcher-dev/watcher/internal/addrpolicy"

// Policy says which addresses a location's checks may reach (see
// addrpolicy.Policy).
type Policy = addrpolicy.Policy

// RefusedError is the error a check gets when the policy refuses the address
// it resolved to; Result.Error is then record.ErrRefused.
type RefusedError = addrpolicy.RefusedError
