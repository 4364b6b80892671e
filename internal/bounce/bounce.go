// Package bounce is the vocabulary of what comes back after a message left:
// delivery status notifications, complaint reports, unsubscribe mail and the
// events of the relays' webhooks all become Events. It classifies an SMTP
// status into a hard bounce, a soft bounce or a refusal that is the sender's
// problem (authentication, policy, reputation), which must never suppress the
// recipient. It knows nothing of storage, HTTP or SMTP sessions.
package bounce

import (
	"regexp"
	"strings"
)

// Kind is what an event says of a recipient.
type Kind uint8

// Kinds. Values are stored as their String.
const (
	// Hard: the address does not exist or will never accept mail (5.1.x, 5.2.1…).
	Hard Kind = iota + 1
	// Soft: a temporary failure (4.x.x, a full mailbox 5.2.2…).
	Soft
	// Sender: refused because of the sender: authentication, policy, reputation
	// (5.7.x, "blocked", "spam"). Never the recipient's fault: counted per
	// campaign, never suppresses.
	Sender
	// Complaint: the recipient reported the message as spam (ARF, a feedback loop,
	// a webhook).
	Complaint
	// Unsubscribe: mail to the List-Unsubscribe mailto address.
	Unsubscribe
)

func (k Kind) String() string {
	switch k {
	case Hard:
		return "hard"
	case Soft:
		return "soft"
	case Sender:
		return "sender"
	case Complaint:
		return "complaint"
	case Unsubscribe:
		return "unsubscribe"
	}
	return "unknown"
}

// Sources of events (the consent log's and the bounces table's source).
const (
	SourceDSN      = "dsn"      // a delivery status notification through the inbound listener
	SourceARF      = "arf"      // a complaint report through the inbound listener
	SourceMailto   = "mailto"   // mail to the List-Unsubscribe mailto address
	SourceSMTP     = "smtp"     // a 5xx answered at send time
	SourceSES      = "ses"      // Amazon SES through SNS
	SourcePostmark = "postmark" // Postmark's webhook
	SourceSendGrid = "sendgrid" // SendGrid's event webhook
	SourceMailgun  = "mailgun"  // Mailgun's webhook
)

// Event is one thing a recipient's mail server, mailbox provider or relay said
// about one message to one recipient.
type Event struct {
	Kind Kind
	// Recipient is the address the report names (the DSN's Final-Recipient, the
	// webhook's recipient), normalized to lower case; "" when it gives none. It
	// is for matching only: never stored or logged.
	Recipient string
	// ReturnPath is the envelope sender of the original message when the report
	// shows it (a VERP address: bounces+{id}@domain), else "".
	ReturnPath string
	// Unsubscribe is the signed unsubscribe token found in the report (the
	// original's List-Unsubscribe header, or the mailto address), else "".
	Unsubscribe string
	// Status is the enhanced status code ("5.1.1"), "" when unknown.
	Status string
	// Diagnostic is the remote server's words, with every address removed
	// (Redact), at most 200 bytes.
	Diagnostic string
	// Source is one of the Source constants.
	Source string
	// ID is the provider's id of the event (SNS MessageId plus recipient,
	// sg_event_id, Mailgun's event id, Postmark's ID), so that a replayed
	// delivery of the same event counts once; "" for mail through the listener.
	ID string
}

// Classify tells what an SMTP reply means for the recipient: the enhanced
// status code when there is one (status, or found in the text), the basic code
// and the words otherwise. Authentication and policy refusals are Sender,
// whatever their class.
func Classify(code int, status, text string) Kind {
	if status == "" {
		status = FindStatus(text)
	}
	lower := strings.ToLower(text)
	if strings.HasPrefix(status, "5.7.") || strings.HasPrefix(status, "4.7.") || senderWords.MatchString(lower) {
		return Sender
	}
	switch {
	case strings.HasPrefix(status, "5.2.2"):
		return Soft // mailbox full: comes and goes
	case strings.HasPrefix(status, "5."):
		return Hard
	case strings.HasPrefix(status, "4."):
		return Soft
	}
	switch {
	case code >= 500 && code < 600:
		if mailboxFull.MatchString(lower) {
			return Soft
		}
		return Hard
	case code >= 400 && code < 500:
		return Soft
	}
	return Soft
}

var (
	statusRe    = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	senderWords = regexp.MustCompile(`\b(block(ed|list)?|blacklist(ed)?|spam|spamhaus|reputation|policy|dmarc|spf|dkim|authenticat\w*|rejected for policy|not authorized|banned|junk)\b`)
	mailboxFull = regexp.MustCompile(`\b(mailbox (is )?full|quota|over quota|insufficient storage)\b`)
	addressRe   = regexp.MustCompile(`<?[^\s<>@"]+@[^\s<>@"]+>?`)
)

// FindStatus returns the first enhanced status code (RFC 3463) in s, or "".
func FindStatus(s string) string {
	if m := statusRe.FindString(s); m != "" {
		return m
	}
	return ""
}

// Redact returns s with every address-like word replaced by "<address>", cut
// to at most 200 bytes, control characters dropped: safe for the ledger and
// the log.
func Redact(s string) string {
	s = addressRe.ReplaceAllString(s, "<address>")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200]
		for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 { // do not cut a UTF-8 sequence
			s = s[:len(s)-1]
		}
		if len(s) > 0 && s[len(s)-1] >= 0xc0 {
			s = s[:len(s)-1]
		}
	}
	return s
}
