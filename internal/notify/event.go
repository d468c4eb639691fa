// Package notify owns alert notifications: the senders (a signed webhook,
// SNS), their configuration, and the delivery loop that drains an outbox
// with retries and backoff, never dropping a message. The event they carry
// and the outbox are internal/alert's.
package notify

import "github.com/watcher-dev/watcher/internal/alert"

// The notification's types, as internal/alert defines them.
type (
	Event       = alert.Event
	EndpointRef = alert.EndpointRef
	CheckRef    = alert.CheckRef
	Certificate = alert.Certificate
	Message     = alert.Message
	Outbox      = alert.Outbox
)

// Channels a message can go to.
const (
	ChannelWebhook = alert.ChannelWebhook
	ChannelSNS     = alert.ChannelSNS
)
