package delivery

import (
	"errors"
	"testing"

	"github.com/envoi/envoi/internal/send"
)

func TestRedact(t *testing.T) {
	perm := &send.PermError{Err: errors.New("SMTP 550 5.1.1 <Reject.Me@Example.com>: unknown user reject.me@example.com")}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"EverySpelling", perm, "SMTP 550 5.1.1 <subscriber 7>: unknown user subscriber 7"},
		{"NoAddress", errors.New("SMTP 451 try later"), "SMTP 451 try later"},
		{"Nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact(tt.err, "reject.me@example.com", "subscriber 7")
			if errorText(got) != tt.want {
				t.Fatalf("%q, want %q", errorText(got), tt.want)
			}
			if tt.err == perm && OutcomeOf(got) != Permanent {
				t.Fatal("the outcome of a redacted 5xx is no longer permanent")
			}
		})
	}
}
