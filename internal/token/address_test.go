package token

import (
	"strings"
	"testing"
)

func TestSignAddress(t *testing.T) {
	s, old := NewSigner("new secret", "old secret"), NewSigner("old secret")
	tests := []struct {
		name string
		kind byte
		a, b int64
	}{
		{"campaign", AddrCampaign, 12, 34},
		{"large ids", AddrCampaign, 999_999_999_999, 999_999_999_998}, // a trillion rows: still within 64
		{"transactional", AddrTransactional, 99, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signed := s.SignAddress(tc.kind, tc.a, tc.b)
			if len("bounces+"+signed) > 64 || strings.ToLower(signed) != signed {
				t.Fatalf("%q: over 64 characters or not lower case", signed)
			}
			for _, v := range []string{signed, strings.ToUpper(signed)} {
				k, a, b, err := s.VerifyAddress(v)
				if err != nil || k != tc.kind || a != tc.a || b != tc.b {
					t.Fatalf("VerifyAddress(%q) = %c %d %d %v", v, k, a, b, err)
				}
			}
			// Signed with an older secret still configured: verifies.
			if _, _, _, err := s.VerifyAddress(old.SignAddress(tc.kind, tc.a, tc.b)); err != nil {
				t.Fatalf("old key: %v", err)
			}
			// Any change of one character is refused.
			for i := range signed {
				for _, c := range []byte{'0', '1', '9', 'a', 'z', '-', 'c', 't'} {
					if signed[i] == c {
						continue
					}
					forged := signed[:i] + string(c) + signed[i+1:]
					if _, _, _, err := s.VerifyAddress(forged); err == nil {
						t.Fatalf("forged %q verified", forged)
					}
				}
			}
		})
	}
	for _, bad := range []string{"", "c1-2-", "x1-aaaaaaaaaaaaaaaa", "c01-2-aaaaaaaaaaaaaaaa", "c-1-2-aaaaaaaaaaaaaaaa", strings.Repeat("a", 100)} {
		if _, _, _, err := s.VerifyAddress(bad); err == nil {
			t.Errorf("VerifyAddress(%q) verified", bad)
		}
	}
	// Another secret: refused.
	if _, _, _, err := NewSigner("other").VerifyAddress(s.SignAddress(AddrCampaign, 1, 2)); err == nil {
		t.Error("another secret's address verified")
	}
}

func FuzzVerifyAddress(f *testing.F) {
	s := NewSigner("fuzz secret")
	f.Add(s.SignAddress(AddrCampaign, 12, 34))
	f.Add(s.SignAddress(AddrTransactional, 5, 0))
	f.Add("c1-2-aaaaaaaaaaaaaaaa")
	f.Fuzz(func(t *testing.T, in string) {
		k, a, b, err := s.VerifyAddress(in)
		if err != nil {
			return
		}
		if got := s.SignAddress(k, a, b); got != strings.ToLower(in) {
			t.Fatalf("%q verified as %c %d %d, which signs as %q", in, k, a, b, got)
		}
	})
}

func BenchmarkSignAddress(b *testing.B) {
	s := NewSigner("bench")
	for i := range b.N {
		_ = s.SignAddress(AddrCampaign, 42, int64(i))
	}
}
