// Package pow is the optional proof-of-work challenge of a list's signup form:
// before the form is sent, the visitor's browser spends a fraction of a second
// finding a number, which costs a bot that posts thousands of signups as much
// for each. Self-hosted, no third party, no cookie, no tracking.
//
// It follows the ALTCHA scheme (altcha.org, the "SHA-256" algorithm of its
// first protocol), so any client of that scheme can solve it: a challenge is
// {algorithm, challenge, maxnumber, salt, signature} where challenge is the
// hex SHA-256 of salt followed by a secret number from 0 to maxnumber, and
// signature the hex HMAC-SHA-256 of challenge under a server key; the salt
// carries its expiry ("…?expires=UNIX"). The answer is the base64 of the JSON
// {algorithm, challenge, number, salt, signature}. Verification needs no
// state but the key; a solved challenge is spent once (a Redis key until the
// challenge expires), so one solution cannot be replayed.
//
// (ALTCHA's Go library is not on the module proxy here and its current widget
// speaks a newer protocol through blob: workers, which the pages' CSP refuses;
// the scheme is small enough to keep here, with a 60-line script in
// static/pow.js.)
package pow

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Challenge is what the form's script asks for (GET /subscribe/{slug}/challenge).
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	MaxNumber int    `json:"maxnumber"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Solution is the decoded answer the form sends in its "altcha" field.
type Solution struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Number    int    `json:"number"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Errors of Verify; none says more than "try again" to the visitor.
var (
	ErrMissing   = errors.New("pow: no solution")
	ErrMalformed = errors.New("pow: malformed solution")
	ErrExpired   = errors.New("pow: challenge expired")
	ErrWrong     = errors.New("pow: wrong solution or signature")
	ErrReplayed  = errors.New("pow: solution already used")
)

// MaxSolutionBytes bounds the field before it is decoded.
const MaxSolutionBytes = 1024

// Service makes and checks challenges.
type Service struct {
	Key       []byte                // HMAC key, from ENVOI_SECRET_KEY
	MaxNumber int                   // difficulty: the browser tries half of it on average (ENVOI_POW_COMPLEXITY)
	TTL       time.Duration         // how long a challenge may be solved and sent; 0: 10 minutes
	Now       func() time.Time      // time.Now when nil
	Redis     redis.UniversalClient // spent solutions; nil: no replay check
	Prefix    string                // Redis key prefix
	Log       *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return 10 * time.Minute
}

func (s *Service) sign(challenge string) string {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("envoi pow\x00"))
	m.Write([]byte(challenge))
	return hex.EncodeToString(m.Sum(nil))
}

func hash(salt string, n int) string {
	sum := sha256.Sum256([]byte(salt + strconv.Itoa(n)))
	return hex.EncodeToString(sum[:])
}

// New makes a challenge.
func (s *Service) New() (Challenge, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Challenge{}, err
	}
	max := s.MaxNumber
	if max < 1 {
		max = 1
	}
	n := mrand.IntN(max + 1)
	salt := hex.EncodeToString(b[:]) + "?expires=" + strconv.FormatInt(s.now().Add(s.ttl()).Unix(), 10)
	c := hash(salt, n)
	return Challenge{Algorithm: "SHA-256", Challenge: c, MaxNumber: max, Salt: salt, Signature: s.sign(c)}, nil
}

// Decode reads the form's "altcha" field. Errors: ErrMissing, ErrMalformed.
func Decode(field string) (Solution, error) {
	field = strings.TrimSpace(field)
	if field == "" {
		return Solution{}, ErrMissing
	}
	if len(field) > MaxSolutionBytes {
		return Solution{}, ErrMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(field)
	if err != nil {
		return Solution{}, ErrMalformed
	}
	var sol Solution
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sol); err != nil || dec.More() {
		return Solution{}, ErrMalformed
	}
	if sol.Algorithm != "SHA-256" || len(sol.Challenge) != 64 || len(sol.Signature) != 64 || sol.Number < 0 || len(sol.Salt) > 200 {
		return Solution{}, ErrMalformed
	}
	return sol, nil
}

// Verify checks the form's "altcha" field: well formed, signed by this
// server, not expired, solved, and not sent before. The solution is spent by
// a successful Verify. If Redis cannot be asked, the replay check is skipped
// (logged): a signup must not fail because Redis is down.
func (s *Service) Verify(ctx context.Context, field string) error {
	sol, err := Decode(field)
	if err != nil {
		return err
	}
	_, q, ok := strings.Cut(sol.Salt, "?")
	if !ok {
		return ErrMalformed
	}
	params, err := url.ParseQuery(q)
	if err != nil {
		return ErrMalformed
	}
	exp, err := strconv.ParseInt(params.Get("expires"), 10, 64)
	if err != nil {
		return ErrMalformed
	}
	now := s.now()
	if !now.Before(time.Unix(exp, 0)) {
		return ErrExpired
	}
	if !hmac.Equal([]byte(s.sign(sol.Challenge)), []byte(strings.ToLower(sol.Signature))) {
		return ErrWrong
	}
	if hash(sol.Salt, sol.Number) != sol.Challenge {
		return ErrWrong
	}
	if s.Redis == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	fresh, err := s.Redis.SetNX(rctx, s.Prefix+":pow:"+sol.Challenge, 1, time.Unix(exp, 0).Sub(now)+time.Minute).Result()
	if err != nil {
		if s.Log != nil {
			s.Log.Warn("proof-of-work replay check skipped: Redis unavailable", slog.String("error", err.Error()))
		}
		return nil
	}
	if !fresh {
		return ErrReplayed
	}
	return nil
}

// Encode is the answer a client sends for a solved challenge (tests, clients).
func Encode(c Challenge, number int) string {
	b, _ := json.Marshal(Solution{Algorithm: c.Algorithm, Challenge: c.Challenge, Number: number, Salt: c.Salt, Signature: c.Signature})
	return base64.StdEncoding.EncodeToString(b)
}

// Solve finds the number of a challenge as a browser does (tests, clients).
func Solve(c Challenge) (int, bool) {
	for n := 0; n <= c.MaxNumber; n++ {
		if hash(c.Salt, n) == c.Challenge {
			return n, true
		}
	}
	return 0, false
}
