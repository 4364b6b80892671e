package address

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{"Plain", "ann@example.com", "ann@example.com", nil},
		{"TrimsSpace", "  ann@example.com \t", "ann@example.com", nil},
		{"LowercasesDomainOnly", "Ann.Lee@Example.COM", "Ann.Lee@example.com", nil},
		{"PlusTag", "ann+news@example.co.uk", "ann+news@example.co.uk", nil},
		{"IDNDomain", "ann@bücher.de", "ann@xn--bcher-kva.de", nil},
		{"ErrEmpty", "   ", "", ErrEmpty},
		{"ErrNoAt", "ann.example.com", "", ErrNoAt},
		{"ErrNoLocal", "@example.com", "", ErrNoAt},
		{"ErrDisplayName", "Ann <ann@example.com>", "", ErrLocal},
		{"ErrSpaceInLocal", "an n@example.com", "", ErrLocal},
		{"ErrDoubleDot", "ann..lee@example.com", "", ErrLocal},
		{"ErrLeadingDot", ".ann@example.com", "", ErrLocal},
		{"ErrNoDot", "ann@localhost", "", ErrDomain},
		{"ErrIPLiteral", "ann@[127.0.0.1]", "", ErrDomain},
		{"ErrIPDomain", "ann@127.0.0.1", "", ErrDomain},
		{"ErrHyphenLabel", "ann@-example.com", "", ErrDomain},
		{"ErrEmptyLabel", "ann@example..com", "", ErrDomain},
		{"ErrHeaderInjection", "ann@example.com\r\nBcc: x@example.com", "", ErrMultiline},
		{"ErrLocalTooLong", strings.Repeat("a", 65) + "@example.com", "", ErrTooLong},
		{"ErrTooLong", "a@" + strings.Repeat("bbbb.", 50) + "com", "", ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Normalize(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzNormalize checks that any accepted address is stable, bounded, single-line
// and plain ASCII with exactly one @.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"ann@example.com", "Ann@Bücher.DE", " a@b.c ", "a@@b.com", "\"q\"@x.org", "a@b\r\n.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalize(s)
		if err != nil {
			return
		}
		if len(got) > MaxLength || strings.Count(got, "@") != 1 || strings.ContainsAny(got, " \r\n\x00<>") {
			t.Fatalf("Normalize(%q) accepted bad %q", s, got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Normalize(%q) = invalid UTF-8 %q", s, got)
		}
		again, err := Normalize(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, got, again, err)
		}
		// The inbox key of an accepted address is one address, stable, and the
		// same for another case of it.
		k := InboxKey(got)
		if strings.Count(k, "@") != 1 || InboxKey(k) != k || InboxKey(strings.ToUpper(got)) != k || len(k) > len(got) {
			t.Fatalf("InboxKey(%q) = %q (again %q, upper %q)", got, k, InboxKey(k), InboxKey(strings.ToUpper(got)))
		}
	})
}

func TestInboxKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Victim@Example.com", "victim@example.com"},
		{"VICTIM@example.com", "victim@example.com"},
		{"victim+news@example.com", "victim@example.com"},
		{"vic.tim@example.com", "vic.tim@example.com"}, // dots matter outside Gmail
		{"Vic.Tim+1@gmail.com", "victim@gmail.com"},
		{"v.i.c.t.i.m@googlemail.com", "victim@gmail.com"},
		{"+tag@example.com", "+tag@example.com"}, // a local part that is all tag keeps it
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := Normalize(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := InboxKey(n); got != tt.want {
				t.Fatalf("InboxKey(%q) = %q, want %q", n, got, tt.want)
			}
		})
	}
}
