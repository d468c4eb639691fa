package alert

// What a transition tells people: the notification's JSON event and the
// outbox it waits in until sent (internal/notify sends it). They live here,
// beside the evaluation that makes them, so that the store, which keeps the
// outbox, links no sender.

import (
	"context"
	"time"
)

// Event is the JSON body of every notification (webhook body; SNS message).
type Event struct {
	ID          string       `json:"id"`    // "alert-<alert_id>-<opened|resolved>": idempotency key, also the X-Watcher-Delivery header
	Event       string       `json:"event"` // "opened" or "resolved"
	Kind        string       `json:"kind"`  // "down" or "certificate"
	AlertID     int64        `json:"alert_id"`
	Endpoint    EndpointRef  `json:"endpoint"`
	At          time.Time    `json:"at"` // planned instant of the check that caused this transition
	OpenedAt    time.Time    `json:"opened_at"`
	ResolvedAt  *time.Time   `json:"resolved_at,omitempty"`
	Summary     string       `json:"summary"` // one line for people
	Checks      []CheckRef   `json:"checks"`  // the checks that caused it, oldest first
	Certificate *Certificate `json:"certificate,omitempty"`
}

// EndpointRef names the endpoint (at one location) an event is about.
type EndpointRef struct {
	ID       int64  `json:"id"`
	Name     string `json:"name,omitempty"`
	URL      string `json:"url"`
	Group    string `json:"group,omitempty"`
	Location string `json:"location"`
}

// CheckRef is one stored check that caused a transition.
type CheckRef struct {
	PlannedAt      time.Time `json:"planned_at"`
	Error          string    `json:"error,omitempty"`
	StatusCode     *int      `json:"status_code,omitempty"`
	RegexMatch     *bool     `json:"regex_match,omitempty"`
	ResponseTimeMS float64   `json:"response_time_ms"`
}

// Certificate is the leaf certificate a certificate alert is about.
type Certificate struct {
	NotAfter time.Time `json:"not_after"`
	Issuer   string    `json:"issuer,omitempty"`
	DaysLeft int       `json:"days_left"`
}

// Message is one pending notification from the outbox.
type Message struct {
	ID       int64
	Channel  string // ChannelWebhook or ChannelSNS
	Body     []byte // an Event, JSON-encoded
	Attempts int    // failed attempts so far
}

// Outbox is where notifications wait until sent (the store implements it).
type Outbox interface {
	// Due claims up to limit unsent messages whose next attempt is at or
	// before now, so that a concurrent Deliver does not send them too,
	// oldest first (creation order: Deliver sends in the order given). A
	// claim lapses after a while, so that a message claimed by a Deliver
	// that stopped before reaching it is due again.
	Due(ctx context.Context, now time.Time, limit int) ([]Message, error)
	// Sent marks message id as delivered at at.
	Sent(ctx context.Context, id int64, at time.Time) error
	// Failed records that message id is still unsent: attempts is its new
	// count of failed attempts (unchanged when Deliver held it back behind
	// an older message of its channel that failed), next the earliest time
	// of its next attempt, reason why (never a secret).
	Failed(ctx context.Context, id int64, attempts int, next time.Time, reason string) error
}

// Channels a message can go to.
const (
	ChannelWebhook = "webhook"
	ChannelSNS     = "sns"
)
