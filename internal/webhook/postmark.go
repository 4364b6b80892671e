package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/envoi/envoi/internal/bounce"
)

type postmark struct {
	user, password [32]byte // hashed: the comparison takes the same time whatever the lengths
	off            bool
}

// NewPostmark returns the provider of Postmark's bounce and spam complaint
// webhooks, authenticated by HTTP basic auth (the credentials put in the
// webhook URL). With both empty every request is refused.
func NewPostmark(user, password string) Provider {
	return &postmark{user: sha256.Sum256([]byte(user)), password: sha256.Sum256([]byte(password)), off: user == "" && password == ""}
}

func (*postmark) Name() string { return "postmark" }

// Parse checks the credentials only: Postmark signs nothing and sends no
// timestamp, and it retries a failed delivery with the same body, so there
// is no replay window; Event.ID (Postmark's ID) makes a redelivery count once.
func (p *postmark) Parse(_ context.Context, h http.Header, body []byte) ([]bounce.Event, error) {
	user, password, ok := (&http.Request{Header: h}).BasicAuth()
	if !ok || p.off {
		return nil, fmt.Errorf("%w: Postmark basic auth missing", ErrUnauthorized)
	}
	u, pw := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	if subtle.ConstantTimeCompare(u[:], p.user[:])&subtle.ConstantTimeCompare(pw[:], p.password[:]) != 1 {
		return nil, fmt.Errorf("%w: Postmark basic auth does not match", ErrUnauthorized)
	}
	return parsePostmark(body)
}

type postmarkRecord struct {
	RecordType  string
	Type        string
	ID          flexString
	Email       string
	Details     string
	Description string
}

// parsePostmark reads an authenticated body: one record.
func parsePostmark(body []byte) ([]bounce.Event, error) {
	var r postmarkRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, jsonError("Postmark record", err)
	}
	var kind bounce.Kind
	text := r.Details
	if text == "" {
		text = r.Description
	}
	switch r.RecordType {
	case "Bounce":
		switch r.Type {
		case "HardBounce":
			kind = withSender(bounce.Hard, 0, "", r.Details)
		case "SoftBounce", "Transient", "DnsError":
			kind = withSender(bounce.Soft, 0, "", r.Details)
		case "SpamNotification", "SpamComplaint":
			kind = bounce.Complaint
		case "Blocked":
			kind = bounce.Classify(0, "", r.Details)
		default:
			return nil, nil
		}
	case "SpamComplaint":
		kind = bounce.Complaint
	default:
		return nil, nil
	}
	status := cleanStatus("", r.Details)
	if kind == bounce.Complaint {
		status, text = "", ""
	}
	ev, ok := newEvent(kind, bounce.SourcePostmark, string(r.ID), r.Email, status, text)
	if !ok {
		return nil, nil
	}
	return []bounce.Event{ev}, nil
}
