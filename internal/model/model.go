// Package model holds Envoi's entity types: plain structs that the store fills
// and that services and handlers read, so that no handler needs the store for a
// type. It holds no logic and imports nothing of Envoi's (as miniflux's
// internal/model).
package model

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// Subscription statuses.
const (
	StatusUnconfirmed  = "unconfirmed"
	StatusConfirmed    = "confirmed"
	StatusUnsubscribed = "unsubscribed"
)

// Campaign statuses.
const (
	CampaignDraft     = "draft"
	CampaignScheduled = "scheduled"
	CampaignSending   = "sending"
	CampaignPaused    = "paused"
	CampaignSent      = "sent"
	CampaignCancelled = "cancelled"
)

// Ledger statuses of one message (a campaign delivery or a transactional
// message): queued (to send, or to retry after a temporary failure), sending
// (claimed by a sender; campaign deliveries only), then one of sent, failed
// (refused for good) or skipped (no longer due).
const (
	MessageQueued  = "queued"
	MessageSending = "sending"
	MessageSent    = "sent"
	MessageFailed  = "failed"
	MessageSkipped = "skipped"
)

// Transactional message kinds.
const (
	KindConfirm = "confirm"
	KindWelcome = "welcome"
	// KindRepermission asks a long-inactive subscriber whether they still want the list (retention).
	KindRepermission = "repermission"
	// KindEmailChange asks a new address to confirm a change of address.
	KindEmailChange = "email_change"
)

// List is a mailing list. Every list is double opt-in.
type List struct {
	ID             int64  `db:"id" json:"-"`
	Slug           string `db:"slug" json:"slug"`
	Name           string `db:"name" json:"name"`
	Description    string `db:"description" json:"description"`
	WelcomeEnabled bool   `db:"welcome_enabled" json:"welcome_enabled"`
	WelcomeSubject string `db:"welcome_subject" json:"welcome_subject"`
	WelcomeBody    string `db:"welcome_body" json:"welcome_body"`
	// ConsentText is the form's consent label; empty for the default wording.
	ConsentText string `db:"consent_text" json:"consent_text"`
	// Language is the tag of the list's public pages and system mails (en, fr…).
	Language string `db:"language" json:"language"`
	// ProofOfWork: the signup form asks the browser for a proof-of-work answer.
	ProofOfWork bool `db:"proof_of_work" json:"proof_of_work"`
	// Fields are the subscriber fields the list collects besides the address
	// (the name, custom ones), each with its purpose.
	Fields Fields `db:"fields" json:"fields"`
	// OpenTracking: mail from this list carries an open pixel (person-bound only
	// for subscribers who gave the separate tracking consent); off by default.
	OpenTracking bool      `db:"open_tracking" json:"open_tracking"`
	CreatedAt    time.Time `db:"created_at" json:"created_at"`
}

// ListMembership is one list a subscriber is on, with the status there.
type ListMembership struct {
	Slug   string `json:"slug"`
	Status string `json:"status"`
}

// Subscriber is a person with the lists they are on.
type Subscriber struct {
	ID    int64            `db:"id" json:"id"`
	Email string           `db:"email" json:"email"`
	Name  string           `db:"name" json:"name"`
	Lists []ListMembership `db:"-" json:"lists"`
	// Suppressed: unsubscribed from everything after a complaint or an
	// objection, never mailed until a fresh confirmed opt-in.
	Suppressed       bool   `db:"-" json:"suppressed"`
	SuppressedReason string `db:"-" json:"suppressed_reason"`
	// Restricted: processing restricted (GDPR art. 18): kept, never mailed.
	Restricted bool `db:"-" json:"restricted"`
	// Fields are the custom fields' values (the lists' declared fields).
	Fields Values `db:"-" json:"fields"`
}

// SubscriberPage is one page of a list's subscribers. Next is the cursor of
// the following page (the last id of this one), 0 after the last page.
type SubscriberPage struct {
	Items   []Subscriber `json:"items"`
	Page    int          `json:"page,omitempty"`
	PerPage int          `json:"per_page"`
	Total   int64        `json:"total"`
	Next    int64        `json:"next,omitempty"`
}

// Subscription is one subscriber on one list, with what mails about it need.
type Subscription struct {
	ID                 int64      `db:"id"`
	SubscriberID       int64      `db:"subscriber_id"`
	ListID             int64      `db:"list_id"`
	Status             string     `db:"status"`
	ConfirmRequestedAt *time.Time `db:"confirm_requested_at"`
	ConfirmedAt        *time.Time `db:"confirmed_at"`
	UnsubscribedAt     *time.Time `db:"unsubscribed_at"`
	Email              string     `db:"email"`
	Name               string     `db:"name"`
	ListSlug           string     `db:"list_slug"`
	ListName           string     `db:"list_name"`
	WelcomeEnabled     bool       `db:"welcome_enabled"`
	WelcomeSubject     string     `db:"welcome_subject"`
	WelcomeBody        string     `db:"welcome_body"`
	ListLanguage       string     `db:"list_language"`
}

// Consent is the context of one consent event, kept as proof.
type Consent struct {
	Source      string // form, api, one_click, link
	IP          string // may be empty
	UserAgent   string
	TextVersion string
	Detail      string // free detail, no personal data (an import's source, an erasure's reason)
}

// Campaign is one mailing to the confirmed subscribers of some lists.
type Campaign struct {
	ID            int64  `db:"id" json:"id"`
	Name          string `db:"name" json:"name"`
	Subject       string `db:"subject" json:"subject"`
	From          string `db:"from_header" json:"from"`
	ReplyTo       string `db:"reply_to" json:"reply_to"`
	Format        string `db:"format" json:"format"`
	Body          string `db:"body" json:"body"`
	TextBody      string `db:"text_body" json:"text_body"`
	Template      string `db:"template" json:"template"`
	ClickTracking bool   `db:"click_tracking" json:"click_tracking"`
	Status        string `db:"status" json:"status"`
	// PausedReason says why a campaign paused itself (sender problems past the
	// threshold: fix authentication, then resume); "" otherwise.
	PausedReason   string     `db:"paused_reason" json:"paused_reason,omitempty"`
	SendAt         *time.Time `db:"send_at" json:"send_at"`
	AudienceCursor int64      `db:"audience_cursor" json:"-"`
	AudienceDone   bool       `db:"audience_done" json:"-"`
	Batches        int        `db:"batches" json:"-"`
	Generation     int        `db:"generation" json:"-"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
	StartedAt      *time.Time `db:"started_at" json:"started_at"`
	FinishedAt     *time.Time `db:"finished_at" json:"finished_at"`
	Lists          []string   `db:"-" json:"lists"`
	Counts         Counts     `db:"-" json:"counts"`
	// Warnings are things the marketer should fix, said when the campaign is sent.
	Warnings []string `db:"-" json:"warnings,omitempty"`
}

// Counts are a campaign's deliveries by outcome; Total is the audience selected so far.
type Counts struct {
	Total   int64 `json:"total"`
	Sent    int64 `json:"sent"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
	Pending int64 `json:"pending"`
	// Opens (pixel fetches) and Clicks (of every link) are aggregate counts.
	Opens  int64 `json:"opens"`
	Clicks int64 `json:"clicks"`
	// Bounces (hard and soft, each recipient once), Complaints, and
	// SenderRefusals (authentication or policy: the sender's problem, never
	// the recipient's) came back for the campaign's messages.
	Bounces        int64 `json:"bounces"`
	Complaints     int64 `json:"complaints"`
	SenderRefusals int64 `json:"sender_refusals"`
}

// CampaignState is what a sender checks between messages.
type CampaignState struct {
	Status     string `db:"status"`
	Generation int    `db:"generation"`
}

// ListRef names one target list of a campaign.
type ListRef struct {
	ID           int64  `db:"id"`
	Slug         string `db:"slug"`
	Name         string `db:"name"`
	OpenTracking bool   `db:"open_tracking"`
}

// Recipient is a claimed delivery: who to send to and under which subscription
// (for the unsubscribe link).
type Recipient struct {
	SubscriberID   int64
	ListID         int64
	Email          string
	Name           string
	SubscriptionID int64
	ListSlug       string
	ListName       string
	// TrackingConsent: the subscription gave the separate tracking consent.
	TrackingConsent bool
}

// Layout is a marketer's campaign layout (html/template source).
type Layout struct {
	Name      string    `db:"name" json:"name"`
	HTML      string    `db:"html" json:"html"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

// APIKey is a key for the JSON API; only its hash is stored.
type APIKey struct {
	ID         int64      `db:"id" json:"id"`
	Name       string     `db:"name" json:"name"`
	Prefix     string     `db:"prefix" json:"prefix"`
	Scope      string     `db:"scope" json:"scope"` // ScopeRead or ScopeFull
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at"`
}

// API key scopes.
const (
	ScopeRead = "read" // GET and HEAD only
	ScopeFull = "full"
)

// TransactionalMessage is one confirmation or welcome mail in the ledger.
type TransactionalMessage struct {
	ID             int64  `db:"id"`
	SubscriptionID int64  `db:"subscription_id"`
	Kind           string `db:"kind"`
	Status         string `db:"status"`
	Attempts       int    `db:"attempts"`
}

// Admin roles, from least to most: a viewer reads; an editor also edits lists,
// subscribers, layouts and campaigns and sends; an owner also manages users,
// settings and API keys.
const (
	RoleViewer = "viewer"
	RoleEditor = "editor"
	RoleOwner  = "owner"
)

// User is an admin account. The password hash, TOTP secret and recovery codes
// never leave the auth service.
type User struct {
	ID             int64     `db:"id" json:"id"`
	Email          string    `db:"email" json:"email"`
	Role           string    `db:"role" json:"role"`
	PasswordHash   string    `db:"password_hash" json:"-"`
	TOTPSecret     *string   `db:"totp_secret" json:"-"`
	RecoveryCodes  []string  `db:"-" json:"-"`
	SessionVersion int       `db:"session_version" json:"-"`
	CreatedAt      time.Time `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time `db:"updated_at" json:"updated_at"`
}

// TOTP reports whether two-factor login is on.
func (u User) TOTP() bool { return u.TOTPSecret != nil }

// AuditEntry is one admin action.
type AuditEntry struct {
	ID        int64     `db:"id" json:"id"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UserID    *int64    `db:"user_id" json:"user_id"`
	UserEmail string    `db:"user_email" json:"user_email"`
	Action    string    `db:"action" json:"action"`
	Target    string    `db:"target" json:"target"`
	IP        *string   `db:"ip" json:"ip"`
}

// ListStats counts a list's subscriptions by status.
type ListStats struct {
	Slug         string `db:"slug"`
	Name         string `db:"name"`
	Unconfirmed  int64  `db:"unconfirmed"`
	Confirmed    int64  `db:"confirmed"`
	Unsubscribed int64  `db:"unsubscribed"`
}

// DayCount is a count for one day.
type DayCount struct {
	Day   time.Time `db:"day"`
	Count int64     `db:"n"`
}

// ConsentEvent is one entry of a subscriber's consent record.
type ConsentEvent struct {
	At          time.Time `db:"created_at" json:"at"`
	ListSlug    string    `db:"list_slug" json:"list"`
	Action      string    `db:"action" json:"action"`
	Source      string    `db:"source" json:"source"`
	IP          *string   `db:"ip" json:"ip"`
	UserAgent   string    `db:"user_agent" json:"user_agent"`
	TextVersion string    `db:"consent_text_version" json:"text_version"`
	Text        *string   `db:"text" json:"text"`
	Detail      string    `db:"detail" json:"detail,omitempty"`
}

// File is something to download (an export), or the error that made it fail.
type File struct {
	Name, ContentType string
	Body              []byte
	Err               error
}

// FieldName is the built-in field a list may collect: the subscriber's name.
const FieldName = "name"

// Field is one subscriber field a list collects, with why.
type Field struct {
	Name    string `json:"name"`    // "name", or a custom field's key
	Label   string `json:"label"`   // what the form shows; "" for the name's default
	Purpose string `json:"purpose"` // why it is collected, shown on the form
}

// Fields are a list's declared fields, stored as JSON.
type Fields []Field

// Has says whether the fields include one by name.
func (fs Fields) Has(name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Get returns the field by name (zero when not declared).
func (fs Fields) Get(name string) Field {
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	return Field{}
}

// Custom are the fields but the name.
func (fs Fields) Custom() Fields {
	var out Fields
	for _, f := range fs {
		if f.Name != FieldName {
			out = append(out, f)
		}
	}
	return out
}

// Scan reads the JSON column.
func (fs *Fields) Scan(src any) error { return scanJSON(src, fs) }

// Value writes the JSON column.
func (fs Fields) Value() (driver.Value, error) {
	if fs == nil {
		fs = Fields{}
	}
	return json.Marshal(fs)
}

// Values are a subscriber's custom field values, stored as JSON.
type Values map[string]string

// Scan reads the JSON column.
func (v *Values) Scan(src any) error { return scanJSON(src, v) }

// Value writes the JSON column.
func (v Values) Value() (driver.Value, error) {
	if v == nil {
		v = Values{}
	}
	return json.Marshal(v)
}

func scanJSON(src, dst any) error {
	switch b := src.(type) {
	case []byte:
		return json.Unmarshal(b, dst)
	case string:
		return json.Unmarshal([]byte(b), dst)
	case nil:
		return nil
	}
	return fmt.Errorf("cannot read %T as JSON", src)
}
