package bounce

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	wantVERP  = "bounces+c12-34-abcdefghijklmnop@bounces.example.org"
	wantToken = "AbC-dEf_123"
)

// TestParse reads reports of the shapes real servers send (written for the
// tests: Postfix, Exim, Gmail, Outlook, Yahoo, qmail; ARF feedback loops).
func TestParse(t *testing.T) {
	tests := []struct {
		file      string
		n         int // events
		kind      Kind
		recipient string
		status    string
		original  bool // the original's Return-Path and List-Unsubscribe are found
	}{
		{"postfix-hard.eml", 1, Hard, "ann@example.net", "5.1.1", true},
		{"postfix-soft-expired.eml", 1, Soft, "ann@example.net", "4.4.1", true},
		{"gmail-5.1.1.eml", 1, Hard, "ann@example.net", "5.1.1", true},
		{"gmail-5.7.26.eml", 1, Sender, "ann@example.net", "5.7.26", false},
		{"outlook-5.1.10.eml", 1, Hard, "ann@example.net", "5.1.10", true},
		{"outlook-5.7.515.eml", 1, Sender, "ann@outlook.com", "5.7.515", false},
		{"exim-plain.eml", 1, Hard, "ann@example.net", "5.1.1", true},
		{"yahoo-plain.eml", 1, Hard, "ann@yahoo.com", "", true},
		{"qmail.eml", 1, Soft, "ann@example.net", "5.2.2", true},
		{"two-recipients.eml", 1, Soft, "ann@example.net", "4.2.2", false},
		{"arf-headers.eml", 1, Complaint, "ann@example.net", "", true},
		{"arf-message.eml", 1, Complaint, "ann@example.net", "", true},
		{"arf-not-spam.eml", 0, 0, "", "", false},
		{"autoreply.eml", 0, 0, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, crlf := range []bool{false, true} {
				in := raw
				if crlf {
					in = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
				}
				evs, err := Parse(bytes.NewReader(in))
				if err != nil {
					t.Fatalf("crlf %v: %v", crlf, err)
				}
				if len(evs) != tt.n {
					t.Fatalf("crlf %v: %d events %+v, want %d", crlf, len(evs), evs, tt.n)
				}
				if tt.n == 0 {
					continue
				}
				ev := evs[0]
				if ev.Kind != tt.kind || ev.Recipient != tt.recipient || ev.Status != tt.status {
					t.Errorf("crlf %v: %v %q %q, want %v %q %q", crlf, ev.Kind, ev.Recipient, ev.Status, tt.kind, tt.recipient, tt.status)
				}
				if tt.original && (!strings.EqualFold(ev.ReturnPath, wantVERP) || ev.Unsubscribe != wantToken) {
					t.Errorf("crlf %v: return path %q, unsubscribe %q", crlf, ev.ReturnPath, ev.Unsubscribe)
				}
				for _, e := range evs {
					if strings.Contains(e.Diagnostic, "@") || len(e.Diagnostic) > 200 {
						t.Errorf("diagnostic %q holds an address or is too long", e.Diagnostic)
					}
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code         int
		status, text string
		want         Kind
	}{
		{550, "5.1.1", "User unknown", Hard},
		{550, "", "550 5.1.1 <a@b.c>: user unknown", Hard},
		{452, "4.2.2", "Mailbox full", Soft},
		{552, "5.2.2", "Mailbox full", Soft},
		{550, "5.7.515", "Access denied, sending domain does not meet the required authentication level", Sender},
		{550, "5.7.26", "Unauthenticated email is not accepted due to domain's DMARC policy", Sender},
		{554, "", "Message rejected as spam", Sender},
		{550, "", "Blocked by Spamhaus", Sender},
		{421, "4.7.0", "Try again later, rate limited", Sender},
		{550, "", "No such user here", Hard},
		{450, "", "Greylisted", Soft},
	}
	for _, tt := range tests {
		if got := Classify(tt.code, tt.status, tt.text); got != tt.want {
			t.Errorf("Classify(%d, %q, %q) = %v, want %v", tt.code, tt.status, tt.text, got, tt.want)
		}
	}
}

// FuzzParse: no panic; every diagnostic short and without an address.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		evs, _ := Parse(bytes.NewReader(in))
		for _, e := range evs {
			if strings.Contains(e.Diagnostic, "@") || len(e.Diagnostic) > 200 {
				t.Fatalf("diagnostic %q", e.Diagnostic)
			}
			if e.Kind < Hard || e.Kind > Unsubscribe {
				t.Fatalf("kind %d", e.Kind)
			}
		}
	})
}

// FuzzClassify: always one of the kinds; Redact never leaves an address.
func FuzzClassify(f *testing.F) {
	f.Add(550, "5.1.1", "user unknown <a@b.c>")
	f.Add(421, "", "4.7.0 blocked")
	f.Fuzz(func(t *testing.T, code int, status, text string) {
		if k := Classify(code, status, text); k != Hard && k != Soft && k != Sender {
			t.Fatalf("Classify = %v", k)
		}
		if r := Redact(text); strings.Contains(r, "@") || len(r) > 200 {
			t.Fatalf("Redact(%q) = %q", text, r)
		}
	})
}
