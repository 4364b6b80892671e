package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestForget: a request taken back with Forget (the handler could not store
// its events) is accepted again on the relay's retry; without Forget it is a replay.
func TestForget(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	p := NewMailgun("forget-key", func() time.Time { return now })
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte("forget-key"))
	m.Write([]byte(ts + "tok-forget"))
	body := []byte(`{"signature":{"timestamp":"` + ts + `","token":"tok-forget","signature":"` + hex.EncodeToString(m.Sum(nil)) + `"},
"event-data":{"event":"failed","severity":"permanent","recipient":"a@example.com","id":"ev1","delivery-status":{"code":550,"message":"5.1.1 unknown"}}}`)
	if evs, err := p.Parse(context.Background(), nil, body); err != nil || len(evs) != 1 {
		t.Fatalf("first: %v %v", evs, err)
	}
	if _, err := p.Parse(context.Background(), nil, body); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("replay: %v, want ErrUnauthorized", err)
	}
	f, ok := p.(Forgetter)
	if !ok {
		t.Fatal("Mailgun provider is no Forgetter")
	}
	f.Forget(nil, body)
	if evs, err := p.Parse(context.Background(), nil, body); err != nil || len(evs) != 1 {
		t.Fatalf("after Forget: %v %v", evs, err)
	}
}
