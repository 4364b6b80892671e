package pow

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/envoi/envoi/internal/testenv"
)

func service(t *testing.T, now func() time.Time) *Service {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return &Service{Key: []byte("k"), MaxNumber: 2000, Now: now, Redis: rdb, Prefix: testenv.Queue(t)}
}

// TestVerify: a solved challenge passes once; replayed, tampered, wrong,
// expired, foreign or malformed answers are refused with their reason.
func TestVerify(t *testing.T) {
	t.Parallel()
	clock := &testenv.Clock{}
	s := service(t, clock.Now)
	ctx := context.Background()
	solved := func() (Challenge, string) {
		c, err := s.New()
		if err != nil {
			t.Fatal(err)
		}
		n, ok := Solve(c)
		if !ok {
			t.Fatal("unsolvable challenge")
		}
		return c, Encode(c, n)
	}
	c, good := solved()
	if err := s.Verify(ctx, good); err != nil {
		t.Fatalf("solved challenge: %v", err)
	}
	if err := s.Verify(ctx, good); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replayed: %v, want ErrReplayed", err)
	}
	n, _ := Solve(c)
	c2, _ := solved()
	n2, _ := Solve(c2)
	other := &Service{Key: []byte("other"), MaxNumber: 2000, Now: clock.Now}
	c3, _ := other.New()
	n3, _ := Solve(c3)
	resigned := c2
	resigned.Salt = strings.Replace(c2.Salt, "?expires=", "?expires=9", 1) // a later expiry, same signature
	for _, tt := range []struct {
		name  string
		field string
		want  error
	}{
		{"Missing", "", ErrMissing},
		{"NotBase64", "%%%", ErrMalformed},
		{"NotJSON", base64.StdEncoding.EncodeToString([]byte("x")), ErrMalformed},
		{"TrailingData", base64.StdEncoding.EncodeToString([]byte(`{"algorithm":"SHA-256"} {}`)), ErrMalformed},
		{"Huge", strings.Repeat("A", MaxSolutionBytes+4), ErrMalformed},
		{"OtherAlgorithm", Encode(Challenge{Algorithm: "SHA-1", Challenge: c2.Challenge, Salt: c2.Salt, Signature: c2.Signature}, n2), ErrMalformed},
		{"WrongNumber", Encode(c2, n2+1), ErrWrong},
		{"OtherServersKey", Encode(c3, n3), ErrWrong},
		{"SaltChanged", Encode(resigned, n2), ErrWrong},
		{"ChallengeOfAnother", Encode(Challenge{Algorithm: "SHA-256", Challenge: c.Challenge, Salt: c2.Salt, Signature: c.Signature}, n), ErrWrong},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Verify(ctx, tt.field); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// The refusals did not spend c2: solved properly it still passes.
	if err := s.Verify(ctx, Encode(c2, n2)); err != nil {
		t.Fatalf("c2 after refusals: %v", err)
	}
	// A challenge solved too late is refused.
	c4, late := solved()
	_ = c4
	clock.Advance(11 * time.Minute)
	if err := s.Verify(ctx, late); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

// TestVerifyRedisDown: without Redis the replay check is skipped, not the signup.
func TestVerifyRedisDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	s := &Service{Key: []byte("k"), MaxNumber: 100, Redis: rdb}
	c, err := s.New()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := Solve(c)
	if err := s.Verify(context.Background(), Encode(c, n)); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecode: no input panics; whatever decodes is within the bounds.
func FuzzDecode(f *testing.F) {
	s := &Service{Key: []byte("k"), MaxNumber: 10}
	c, _ := s.New()
	f.Add(Encode(c, 3))
	f.Add("")
	f.Add("e30=")
	f.Fuzz(func(t *testing.T, field string) {
		sol, err := Decode(field)
		if err != nil {
			return
		}
		if sol.Algorithm != "SHA-256" || len(sol.Challenge) != 64 || sol.Number < 0 || len(sol.Salt) > 200 {
			t.Fatalf("decoded out of bounds: %+v", sol)
		}
		_ = s.Verify(context.Background(), field)
	})
}
