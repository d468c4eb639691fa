package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/watcher-dev/watcher/internal/dev/moto"
)

// snsSubscriber is a topic on the emulator with an SQS queue subscribed.
type snsSubscriber struct {
	topic string
	q     *sqs.Client
	url   *string
}

func newSNSSubscriber(t *testing.T, region string) *snsSubscriber {
	t.Helper()
	ctx := context.Background()
	cfg := moto.Config(t, region)
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(moto.Name(t, "alerts"))})
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(cfg)
	name := moto.Name(t, "subscriber")
	qu, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: qu.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn,
		Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}
	return &snsSubscriber{topic: aws.ToString(topic.TopicArn), q: q, url: qu.QueueUrl}
}

// snsEnvelope is what SNS puts in an SQS subscriber's queue.
type snsEnvelope struct {
	Type, Subject, Message, TopicArn string
}

// receive returns the one message in the queue.
func (s *snsSubscriber) receive(t *testing.T) snsEnvelope {
	t.Helper()
	out, err := s.q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: s.url, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("the subscriber queue holds %d messages, want 1", len(out.Messages))
	}
	var e snsEnvelope
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSNSOnEmulator: an event published to a topic reaches an SQS
// subscriber as the event JSON itself, with the summary as subject.
func TestSNSOnEmulator(t *testing.T) {
	ctx := context.Background()
	sub := newSNSSubscriber(t, "eu-west-1")
	// A client configured for another region still publishes in the topic's.
	s := NewSNSFromConfig(moto.Config(t, "us-west-2"), sub.topic)
	body := testEvent(t, 9, t0)
	if err := s.Send(ctx, Message{ID: 1, Channel: ChannelSNS, Body: body}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	e := sub.receive(t)
	if e.Message != string(body) {
		t.Errorf("SQS subscriber got message %s, want the event %s", e.Message, body)
	}
	if e.Subject != "shop is down at home (alert 9)" || e.TopicArn != sub.topic {
		t.Errorf("envelope %+v", e)
	}

	wrong := NewSNSFromConfig(moto.Config(t, "eu-west-1"), "arn:aws:sns:eu-west-1:"+moto.Account+":no-such-topic")
	if err := wrong.Send(ctx, Message{ID: 2, Body: body}); err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("publish to a missing topic: %v, want an error naming it", err)
	}
}

// TestSNSTrimsChecks: an event with many checks (a failure ratio over a
// long window) is trimmed to its latest checks to fit SNS's message size.
func TestSNSTrimsChecks(t *testing.T) {
	ev := Event{ID: "alert-3-opened", Event: "opened", Kind: "down", AlertID: 3, Summary: "many"}
	for i := range 5000 {
		ev.Checks = append(ev.Checks, CheckRef{PlannedAt: t0.Add(time.Duration(i) * 5 * time.Second), Error: "connection refused"})
	}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	sub := newSNSSubscriber(t, "eu-west-1")
	if err := NewSNSFromConfig(moto.Config(t, "eu-west-1"), sub.topic).Send(context.Background(), Message{ID: 1, Body: body}); err != nil {
		t.Fatal(err)
	}
	var sent Event
	if err := json.Unmarshal([]byte(sub.receive(t).Message), &sent); err != nil {
		t.Fatal(err)
	}
	if len(sent.Checks) != textChecks || !sent.Checks[textChecks-1].PlannedAt.Equal(ev.Checks[len(ev.Checks)-1].PlannedAt) {
		t.Errorf("trimmed to %d checks, want the latest %d", len(sent.Checks), textChecks)
	}
}

// TestSNSRenderings: the message holds a Chatbot custom notification for
// chat, plain text for email, and the event for programs.
func TestSNSRenderings(t *testing.T) {
	body := testEvent(t, 9, t0)
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	msg, err := snsMessage(ev, body)
	if err != nil {
		t.Fatal(err)
	}
	var byProtocol map[string]string
	if err := json.Unmarshal([]byte(msg), &byProtocol); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"https", "sqs", "lambda"} {
		if byProtocol[p] != string(body) {
			t.Errorf("%s: %s, want the event", p, byProtocol[p])
		}
	}

	var chat struct {
		Version, Source, ID string
		Content             struct{ TextType, Title, Description string }
		Metadata            struct{ ThreadID string }
	}
	if err := json.Unmarshal([]byte(byProtocol["default"]), &chat); err != nil {
		t.Fatalf("default is not JSON: %v", err)
	}
	if chat.Version != "1.0" || chat.Source != "custom" || chat.ID != "alert-9-opened" ||
		chat.Content.TextType != "client-markdown" || !strings.Contains(chat.Content.Title, ev.Summary) ||
		!strings.Contains(chat.Content.Description, "https://shop.example.com/") ||
		!strings.Contains(chat.Content.Description, "status 503") || chat.Metadata.ThreadID != "watcher-alert-9" {
		t.Errorf("chatbot notification %+v", chat)
	}

	email := byProtocol["email"]
	for _, want := range []string{ev.Summary, "Endpoint:  shop", "URL:       https://shop.example.com/",
		"Location:  home", "Group:     Public", "2026-03-14T08:59:00Z  error timeout, 10000 ms",
		"2026-03-14T09:00:00Z  status 503, 12 ms", "Delivery alert-9-opened"} {
		if !strings.Contains(email, want) {
			t.Errorf("email text lacks %q:\n%s", want, email)
		}
	}
	if strings.Contains(email, "{") {
		t.Errorf("email text holds JSON:\n%s", email)
	}
}

func TestSubject(t *testing.T) {
	for _, tc := range []struct{ name, summary, want string }{
		{"plain", "shop is down", "shop is down"},
		{"control characters", "shop\nis\tdown\x00", "shop is down"},
		{"empty", "", "Watcher alert alert-1-opened"},
		{"long", strings.Repeat("é", 150), strings.Repeat("é", 97) + "..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := subject(Event{ID: "alert-1-opened", Summary: tc.summary})
			if got != tc.want {
				t.Errorf("subject = %q, want %q", got, tc.want)
			}
			if n := len([]rune(got)); n > MaxSubject {
				t.Errorf("subject of %d characters", n)
			}
		})
	}
}
