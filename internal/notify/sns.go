package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// SNSPublisher is the one call the SNS sender makes to AWS.
type SNSPublisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS limits.
const (
	MaxSubject    = 100       // characters of a subject
	maxSNSMessage = 256 << 10 // bytes of a message, all protocols' renderings together
	// textChecks is how many checks the text rendering lists, and how many
	// an event keeps when it is trimmed to fit maxSNSMessage.
	textChecks = 10
)

// SNS publishes events to one topic, rendered for each kind of subscriber:
// AWS Chatbot (chat channels) reads the default message, email gets plain
// text, and HTTPS, SQS and Lambda subscribers get the event JSON itself.
type SNS struct {
	api   SNSPublisher
	topic string
}

var _ Sender = (*SNS)(nil)

// NewSNS returns a sender to topicARN through api.
func NewSNS(api SNSPublisher, topicARN string) *SNS {
	return &SNS{api: api, topic: topicARN}
}

// NewSNSFromConfig returns a sender to topicARN with a client of cfg in the
// topic's own region (Publish answers only there).
func NewSNSFromConfig(cfg aws.Config, topicARN string) *SNS {
	client := sns.NewFromConfig(cfg, func(o *sns.Options) {
		if a, err := arn.Parse(topicARN); err == nil && a.Region != "" {
			o.Region = a.Region
		}
	})
	return NewSNS(client, topicARN)
}

// Send publishes m.Body, an Event.
func (s *SNS) Send(ctx context.Context, m Message) error {
	var ev Event
	if err := json.Unmarshal(m.Body, &ev); err != nil || ev.ID == "" {
		return errors.New("sns: message body is not an event with an id")
	}
	msg, err := snsMessage(ev, m.Body)
	if err == nil && len(msg) > maxSNSMessage && len(ev.Checks) > textChecks {
		// Many checks (a failure ratio over a long window): keep the latest.
		ev.Checks = ev.Checks[len(ev.Checks)-textChecks:]
		var body []byte
		if body, err = json.Marshal(ev); err == nil {
			msg, err = snsMessage(ev, body)
		}
	}
	if err != nil {
		return fmt.Errorf("sns: %w", err)
	}
	if len(msg) > maxSNSMessage {
		return fmt.Errorf("sns: message of %d bytes exceeds the %d SNS takes", len(msg), maxSNSMessage)
	}
	_, err = s.api.Publish(ctx, &sns.PublishInput{
		TopicArn:         aws.String(s.topic),
		Subject:          aws.String(subject(ev)),
		Message:          aws.String(msg),
		MessageStructure: aws.String("json"),
	})
	if err != nil {
		return fmt.Errorf("sns: publish to %s: %w", s.topic, err)
	}
	return nil
}

// snsMessage is the Message of a Publish with MessageStructure "json": one
// string per protocol, "default" for the rest (AWS Chatbot among them).
func snsMessage(ev Event, body []byte) (string, error) {
	chat, err := json.Marshal(chatbotNotification(ev))
	if err != nil {
		return "", err
	}
	raw := string(body)
	b, err := json.Marshal(map[string]string{
		"default": string(chat),
		"email":   Text(ev),
		"http":    raw,
		"https":   raw,
		"sqs":     raw,
		"lambda":  raw,
	})
	return string(b), err
}

// chatbot is an AWS Chatbot (Amazon Q Developer in chat applications)
// custom notification.
type chatbot struct {
	Version  string          `json:"version"`
	Source   string          `json:"source"`
	ID       string          `json:"id"`
	Content  chatbotContent  `json:"content"`
	Metadata chatbotMetadata `json:"metadata"`
}

type chatbotContent struct {
	TextType    string `json:"textType"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

type chatbotMetadata struct {
	ThreadID string `json:"threadId"` // an alert's opened and resolved share a thread
	Summary  string `json:"summary"`
}

func chatbotNotification(ev Event) chatbot {
	icon := ":red_circle:"
	if ev.Event == "resolved" {
		icon = ":large_green_circle:"
	}
	var d strings.Builder
	fmt.Fprintf(&d, "*%s* `%s` at %s\n", endpointName(ev.Endpoint), ev.Endpoint.URL, ev.Endpoint.Location)
	fmt.Fprintf(&d, "%s %s at %s", ev.Kind, ev.Event, ev.At.UTC().Format(time.RFC3339))
	if c := ev.Certificate; c != nil {
		fmt.Fprintf(&d, "\nCertificate expires %s (%d days)", c.NotAfter.UTC().Format(time.RFC3339), c.DaysLeft)
	}
	if n := len(ev.Checks); n > 0 {
		fmt.Fprintf(&d, "\nLast check: %s", checkLine(ev.Checks[n-1]))
	}
	return chatbot{
		Version: "1.0",
		Source:  "custom",
		ID:      ev.ID,
		Content: chatbotContent{
			TextType:    "client-markdown",
			Title:       icon + " " + ev.Summary,
			Description: d.String(),
		},
		Metadata: chatbotMetadata{ThreadID: fmt.Sprintf("watcher-alert-%d", ev.AlertID), Summary: ev.Summary},
	}
}

// Text renders ev as plain text for people (the email body).
func Text(ev Event) string {
	var b strings.Builder
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-10s %s\n", label+":", value)
		}
	}
	b.WriteString(ev.Summary + "\n\n")
	line("Endpoint", endpointName(ev.Endpoint))
	line("URL", ev.Endpoint.URL)
	line("Location", ev.Endpoint.Location)
	line("Group", ev.Endpoint.Group)
	line("Alert", fmt.Sprintf("%d (%s, %s)", ev.AlertID, ev.Kind, ev.Event))
	line("At", ev.At.UTC().Format(time.RFC3339))
	line("Opened", ev.OpenedAt.UTC().Format(time.RFC3339))
	if ev.ResolvedAt != nil {
		line("Resolved", ev.ResolvedAt.UTC().Format(time.RFC3339))
	}
	if c := ev.Certificate; c != nil {
		line("Expires", fmt.Sprintf("%s (%d days left)", c.NotAfter.UTC().Format(time.RFC3339), c.DaysLeft))
		line("Issuer", c.Issuer)
	}
	if len(ev.Checks) > 0 {
		b.WriteString("\nChecks:\n")
		checks := ev.Checks
		if n := len(checks) - textChecks; n > 0 {
			fmt.Fprintf(&b, "  (%d earlier)\n", n)
			checks = checks[n:]
		}
		for _, c := range checks {
			fmt.Fprintf(&b, "  %s  %s\n", c.PlannedAt.UTC().Format(time.RFC3339), checkLine(c))
		}
	}
	fmt.Fprintf(&b, "\nDelivery %s\n", ev.ID)
	return b.String()
}

func endpointName(e EndpointRef) string {
	if e.Name != "" {
		return e.Name
	}
	return e.URL
}

// checkLine says what one check saw.
func checkLine(c CheckRef) string {
	var parts []string
	if c.Error != "" {
		parts = append(parts, "error "+c.Error)
	}
	if c.StatusCode != nil {
		parts = append(parts, fmt.Sprintf("status %d", *c.StatusCode))
	}
	if c.RegexMatch != nil && !*c.RegexMatch {
		parts = append(parts, "regex not matched")
	}
	parts = append(parts, fmt.Sprintf("%.0f ms", c.ResponseTimeMS))
	return strings.Join(parts, ", ")
}

// subject is the event's summary as SNS takes a subject: no line breaks or
// control characters, fewer than 100 characters.
func subject(ev Event) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, ev.Summary)
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		s = "Watcher alert " + ev.ID
	}
	if r := []rune(s); len(r) > MaxSubject {
		s = string(r[:MaxSubject-3]) + "..."
	}
	return s
}
