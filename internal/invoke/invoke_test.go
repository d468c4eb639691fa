package invoke

import "testing"

func TestARNRegion(t *testing.T) {
	tests := []struct{ function, want string }{
		{"arn:aws:lambda:us-east-1:123456789012:function:watcher-probe-us-east-1", "us-east-1"},
		{"arn:aws-cn:lambda:cn-north-1:123456789012:function:p:live", "cn-north-1"},
		{"watcher-probe-home", ""},
		{"arn:aws:sqs:eu-west-1:1:q", ""},
	}
	for _, tt := range tests {
		if got := arnRegion(tt.function); got != tt.want {
			t.Errorf("arnRegion(%q) = %q, want %q", tt.function, got, tt.want)
		}
	}
}
