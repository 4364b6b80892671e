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
	"unicode/utf8"
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
// (code, or the first reply code in the text) and the words otherwise.
// Authentication and policy refusals, and refusals of the message itself
// (size, content, the sender's address), are Sender, whatever their class.
func Classify(code int, status, text string) Kind {
	if status == "" {
		status = FindStatus(text)
	}
	if code == 0 {
		code = findCode(text)
	}
	lower := strings.ToLower(text)
	if strings.HasPrefix(status, "5.7.") || strings.HasPrefix(status, "4.7.") || senderStatus(status) || senderWords.MatchString(lower) {
		return Sender
	}
	full := mailboxFull.MatchString(lower)
	switch {
	case strings.HasPrefix(status, "5.2.2"), strings.HasPrefix(status, "5.") && full:
		return Soft // mailbox full: comes and goes
	case strings.HasPrefix(status, "5."):
		return Hard
	case strings.HasPrefix(status, "4."):
		return Soft
	}
	switch {
	case code >= 500 && code < 600:
		if full {
			return Soft
		}
		return Hard
	case code >= 400 && code < 500:
		return Soft
	}
	if !full && hardWords.MatchString(lower) {
		return Hard
	}
	return Soft
}

// senderStatus reports the permanent codes that are about the sender or the
// message, never the recipient: bad sender address (5.1.7, 5.1.8), message
// too big (5.3.4), media and conversion errors (5.6.x).
func senderStatus(status string) bool {
	switch {
	case status == "5.1.7", status == "5.1.8", status == "5.3.4":
		return true
	case strings.HasPrefix(status, "5.6."):
		return true
	}
	return false
}

var (
	statusRe    = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	codeRe      = regexp.MustCompile(`(?:^|[\s#'(:\[])([245]\d\d)(?:[ -]|$)`)
	senderWords = regexp.MustCompile(`\b(block(ed|list)?|blacklist(ed)?|spam|spamhaus|reputation|policy|dmarc|spf|dkim|authenticat\w*|rejected for policy|not authorized|banned|junk)\b`)
	mailboxFull = regexp.MustCompile(`\b(mailbox (is )?full|quota|over quota|insufficient storage)\b`)
	hardWords   = regexp.MustCompile(`\b(user unknown|unknown user|no such (user|recipient|mailbox)|does not exist|doesn't exist|doesn't have a \S+ account|recipient not found|no mailbox here|unrouteable address|invalid recipient|mailbox unavailable|account (is )?disabled)\b`)
	addressRe   = regexp.MustCompile(`<?[^\s<>@"]+@[^\s<>@"]+>?`)
)

// FindStatus returns the first enhanced status code (RFC 3463) in s, or "".
// A match that is part of a longer dotted number (an IP address, a version)
// is none.
func FindStatus(s string) string {
	for _, m := range statusRe.FindAllStringIndex(s, 32) {
		if m[0] > 0 && s[m[0]-1] == '.' {
			continue
		}
		if m[1]+1 < len(s) && s[m[1]] == '.' && s[m[1]+1] >= '0' && s[m[1]+1] <= '9' {
			continue
		}
		return s[m[0]:m[1]]
	}
	return ""
}

// findCode returns the first SMTP reply code (a 2xx, 4xx or 5xx word) in s,
// or 0.
func findCode(s string) int {
	m := codeRe.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	return int(m[1][0]-'0')*100 + int(m[1][1]-'0')*10 + int(m[1][2]-'0')
}

// Redact returns s with every address-like word replaced by "<address>", cut
// to at most 200 bytes, control characters dropped: safe for the ledger and
// the log.
func Redact(s string) string {
	s = addressRe.ReplaceAllString(s, "<address>")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		if r == '@' || r == '\uff20' || r == '\ufe6b' { // what the pattern left: a lone or quoted-local-part @
			return ' '
		}
		return r
	}, s) // also turns invalid UTF-8 into U+FFFD
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		n := 200
		for n > 0 && !utf8.RuneStart(s[n]) { // do not cut a UTF-8 sequence
			n--
		}
		s = s[:n]
	}
	return s
}
