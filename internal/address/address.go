// Package address parses and normalizes email addresses typed by people. It owns
// the one definition of a valid address in Envoi; it does no DNS lookups.
package address

import (
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxLength is the longest address accepted (RFC 5321 path limit less the brackets).
const MaxLength = 254

// Errors returned by Normalize; their text is shown to the person who typed the address.
var (
	ErrEmpty     = errors.New("Enter an email address.")
	ErrTooLong   = errors.New("This email address is too long (at most 254 characters).")
	ErrNoAt      = errors.New("An email address needs an @ between the name and the domain, like name@example.com.")
	ErrLocal     = errors.New("The part before the @ contains characters an email address cannot have.")
	ErrDomain    = errors.New("The part after the @ is not a valid domain, like example.com.")
	ErrMultiline = errors.New("Enter a single email address.")
)

var profile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(true), idna.ValidateLabels(true), idna.BidiRule())

// Normalize trims s, checks it is one plain address (local@domain, no display name,
// no comments) and returns it with the domain lower-cased and converted to ASCII
// (IDNA). The local part keeps its case: some servers treat it as case-sensitive.
func Normalize(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrEmpty
	}
	if len(s) > MaxLength*2 {
		return "", ErrTooLong
	}
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
		return "", ErrMultiline
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", ErrNoAt
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocal(local); err != nil {
		return "", err
	}
	d, err := normalizeDomain(domain)
	if err != nil {
		return "", err
	}
	out := local + "@" + d
	if len(out) > MaxLength {
		return "", ErrTooLong
	}
	return out, nil
}

// checkLocal accepts a dot-atom local part (RFC 5322 atext separated by single dots).
// Quoted local parts are legal but almost never used by people and easy to abuse.
func checkLocal(local string) error {
	if local == "" || len(local) > 64 {
		if len(local) > 64 {
			return ErrTooLong
		}
		return ErrNoAt
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return ErrLocal
	}
	for i := 0; i < len(local); i++ {
		if !isAtext(local[i]) && local[i] != '.' {
			return ErrLocal
		}
	}
	return nil
}

func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func normalizeDomain(domain string) (string, error) {
	if domain == "" || strings.ContainsAny(domain, " \t[]") {
		return "", ErrDomain
	}
	ascii, err := profile.ToASCII(domain)
	if err != nil {
		return "", ErrDomain
	}
	ascii = strings.ToLower(ascii)
	// A domain that is already ASCII must survive a second pass unchanged
	// (rejects punycode labels that decode to something invalid).
	if again, err := profile.ToASCII(ascii); err != nil || again != ascii {
		return "", ErrDomain
	}
	if len(ascii) > 253 {
		return "", ErrTooLong
	}
	if !strings.Contains(ascii, ".") {
		return "", ErrDomain
	}
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", ErrDomain
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", ErrDomain
			}
		}
	}
	// The top-level label is never all digits: rejects bare IPv4 addresses.
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", ErrDomain
	}
	return ascii, nil
}

// InboxKey names the inbox a normalized address delivers to, for limits that
// must hold per inbox and not per spelling: the local part case-folded and
// any +tag removed, and for Gmail (gmail.com, googlemail.com, which are one)
// the dots removed too. Two addresses with one key reach the same person in
// practice, whatever their server would say about case.
func InboxKey(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return strings.ToLower(addr)
	}
	local, domain := strings.ToLower(addr[:at]), strings.ToLower(addr[at+1:])
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}
