package record

// MaxErrorDetail is maxErrorDetail, for the tests.
const MaxErrorDetail = maxErrorDetail
