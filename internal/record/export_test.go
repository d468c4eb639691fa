package record

// MaxErrorDetail is maxErrorDetail, for the tests.
const MaxErrorDetail = maxErrorDetail

// MaxInflated is maxInflated, for the tests.
const MaxInflated = maxInflated
