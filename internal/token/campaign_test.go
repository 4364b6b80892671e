package token

import (
	"errors"
	"strings"
	"testing"
)

func TestClickToken(t *testing.T) {
	s := NewSigner(secret)
	msg := s.SignCampaign(Click, 42, 7)
	good := ClickToken(msg, 3)
	flip := []byte(msg)
	flip[len(flip)/2] ^= 1
	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"Valid", good, true},
		{"IndexZero", ClickToken(msg, 0), true},
		{"ErrAltered", string(flip) + ".3", false},
		{"ErrNoIndex", msg, false},
		{"ErrEmptyIndex", msg + ".", false},
		{"ErrLeadingZero", msg + ".03", false},
		{"ErrSignIndex", msg + ".+3", false},
		{"ErrHugeIndex", msg + ".99999999", false},
		{"ErrOpenPurpose", ClickToken(s.SignCampaign(Open, 42, 7), 3), false},
		{"ErrSubscriptionToken", ClickToken(s.Sign(Unsubscribe, 42, 0), 3), false},
		{"ErrOtherKey", ClickToken(NewSigner(strings.Repeat("x", 40)).SignCampaign(Click, 42, 7), 3), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cid, sid, idx, err := s.VerifyClick(tt.tok)
			if !tt.ok {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("VerifyClick(%q) = %d %d %d %v, want ErrInvalid", tt.tok, cid, sid, idx, err)
				}
				return
			}
			if err != nil || cid != 42 || sid != 7 {
				t.Fatalf("VerifyClick(%q) = %d %d %d %v", tt.tok, cid, sid, idx, err)
			}
		})
	}
	// The subscription tokens do not verify as campaign tokens, nor the reverse.
	if _, err := s.Verify(Unsubscribe, s.SignCampaign(Click, 42, 7)); err == nil {
		t.Fatal("a campaign token verified as a subscription token")
	}
	// Aggregate open tokens name no one.
	if cid, sid, err := s.VerifyCampaign(Open, s.SignCampaign(Open, 9, 0)); err != nil || cid != 9 || sid != 0 {
		t.Fatalf("open token: %d %d %v", cid, sid, err)
	}
	// A rotated key still verifies.
	old := NewSigner(strings.Repeat("o", 40))
	rot := NewSigner(secret, strings.Repeat("o", 40))
	if _, _, _, err := rot.VerifyClick(ClickToken(old.SignCampaign(Click, 1, 2), 0)); err != nil {
		t.Fatalf("old key: %v", err)
	}
}

// FuzzVerifyClick: the /r/{token} decoder accepts only what SignCampaign made.
func FuzzVerifyClick(f *testing.F) {
	s := NewSigner(secret)
	f.Add(ClickToken(s.SignCampaign(Click, 1, 2), 0))
	f.Add(ClickToken(s.SignCampaign(Click, 1<<40, 0), 12))
	f.Add(s.SignCampaign(Open, 3, 4))
	f.Add("AQID.1")
	f.Add(".")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		cid, sid, idx, err := s.VerifyClick(tok)
		if err == nil {
			if cid <= 0 || sid < 0 || idx < 0 || idx >= maxLinks {
				t.Fatalf("accepted %q as %d %d %d", tok, cid, sid, idx)
			}
			if ClickToken(s.SignCampaign(Click, cid, sid), idx) != tok {
				t.Fatalf("accepted %q, a second spelling", tok)
			}
		}
		if cid, sid, err := s.VerifyCampaign(Open, tok); err == nil && (cid <= 0 || sid < 0 || s.SignCampaign(Open, cid, sid) != tok) {
			t.Fatalf("accepted open token %q as %d %d", tok, cid, sid)
		}
	})
}
