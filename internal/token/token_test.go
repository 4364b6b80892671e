package token

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

const secret = "0123456789abcdef0123456789abcdef-test"

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestSignVerify(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := NewSigner(secret)
	s.Now = fixed(now)
	confirm := s.Sign(Confirm, 42, 7*24*time.Hour)
	unsub := s.Sign(Unsubscribe, 42, 0)

	later := NewSigner(secret)
	later.Now = fixed(now.Add(8 * 24 * time.Hour))
	rotated := NewSigner("a-brand-new-secret-key-of-32-bytes!!", secret)
	rotated.Now = fixed(now)
	other := NewSigner("another-secret-key-of-at-least-32-bytes")
	other.Now = fixed(now)

	tamper := func(tok string) string {
		b := []byte(tok)
		if b[5] == 'A' {
			b[5] = 'B'
		} else {
			b[5] = 'A'
		}
		return string(b)
	}

	// respell: the same bytes under another spelling (the last character's
	// unused bits set, found by trying), or with a line break inside.
	respell := func(tok string) string {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for _, c := range alphabet {
			alt := tok[:len(tok)-1] + string(c)
			if b, err := base64.RawURLEncoding.DecodeString(alt); err == nil && alt != tok && string(b) == string(raw) {
				return alt
			}
		}
		return tok[:4] + "\n" + tok[4:]
	}

	tests := []struct {
		name   string
		signer *Signer
		p      Purpose
		tok    string
		err    error
		id     int64
	}{
		{"ConfirmOK", s, Confirm, confirm, nil, 42},
		{"UnsubscribeOK", s, Unsubscribe, unsub, nil, 42},
		{"UnsubscribeNeverExpires", later, Unsubscribe, unsub, nil, 42},
		{"OldKeyStillVerifies", rotated, Confirm, confirm, nil, 42},
		{"ErrExpired", later, Confirm, confirm, ErrExpired, 42},
		{"ErrConfirmCannotUnsubscribe", s, Unsubscribe, confirm, ErrInvalid, 0},
		{"ErrUnsubscribeCannotConfirm", s, Confirm, unsub, ErrInvalid, 0},
		{"ErrTampered", s, Confirm, tamper(confirm), ErrInvalid, 0},
		{"ErrTruncated", s, Confirm, confirm[:len(confirm)-2], ErrInvalid, 0},
		{"ErrOtherKey", other, Confirm, confirm, ErrInvalid, 0},
		{"ErrGarbage", s, Confirm, "not-a-token!", ErrInvalid, 0},
		{"ErrEmpty", s, Confirm, "", ErrInvalid, 0},
		{"ErrOtherSpelling", s, Confirm, respell(confirm), ErrInvalid, 0},
		{"ErrLineBreak", s, Confirm, confirm[:4] + "\n" + confirm[4:], ErrInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.signer.Verify(tt.p, tt.tok)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Verify error = %v, want %v", err, tt.err)
			}
			if c.SubscriptionID != tt.id {
				t.Fatalf("SubscriptionID = %d, want %d", c.SubscriptionID, tt.id)
			}
		})
	}
}

func TestNewKeySignsWithNewID(t *testing.T) {
	a, b := NewSigner(secret), NewSigner("a-brand-new-secret-key-of-32-bytes!!", secret)
	if a.Sign(Confirm, 1, time.Hour) == b.Sign(Confirm, 1, time.Hour) {
		t.Fatal("rotated signer produced the same token")
	}
	if _, err := a.Verify(Confirm, b.Sign(Confirm, 1, time.Hour)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token from a key the verifier lacks: err = %v", err)
	}
}

// FuzzVerify: no input panics, and anything accepted round-trips to a positive id.
func FuzzVerify(f *testing.F) {
	s := NewSigner(secret)
	f.Add(s.Sign(Confirm, 1, time.Hour))
	f.Add(s.Sign(Unsubscribe, 1<<40, 0))
	f.Add("AQID")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		for _, p := range []Purpose{Confirm, Unsubscribe, Preferences} {
			c, err := s.Verify(p, tok)
			if err == nil && (c.SubscriptionID <= 0 || c.Purpose != p) {
				t.Fatalf("accepted %q with claims %+v", tok, c)
			}
		}
	})
}
