package bounce

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// Bounds against hostile input. The listener bounds the message's size; these
// bound the work done on it.
const (
	maxParts      = 50        // MIME entities walked
	maxDepth      = 8         // multipart nesting
	maxRecipients = 1000      // recipient blocks (and events) per report
	maxHeaderLine = 4096      // bytes kept of one header field, folded lines included
	maxFields     = 500       // header fields kept per header block
	maxScan       = 256 << 10 // bytes of text the plain-text heuristics look at
	maxAddress    = 320       // bytes of an address
	maxToken      = 512       // bytes of an unsubscribe token
)

// ErrNotMIME is returned by Parse for input that is no Internet message.
var ErrNotMIME = errors.New("bounce: not a MIME message")

// Parse reads one message received by the inbound SMTP listener (headers and
// body, CRLF or LF line ends) and returns the events it carries. A message
// that is no report (an auto-reply, a person writing) yields (nil, nil).
// A message that is not parseable MIME returns an error. It never reads more
// than the reader gives; the listener bounds the size itself.
func Parse(r io.Reader) ([]Event, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	// An mbox "From " line is no header: skip it.
	if bytes.HasPrefix(data, []byte("From ")) {
		_, data = cutLine(data)
	}
	h, body, ok := readHeader(data)
	if !ok || len(h) == 0 {
		return nil, ErrNotMIME
	}
	p := &parser{top: h}
	if err := p.walk(h, body, 0); err != nil {
		return nil, err
	}
	var evs []Event
	switch {
	case p.dsn != nil:
		evs = p.dsnEvents()
	case p.arf != nil:
		evs = p.arfEvents()
	default:
		evs = p.plainEvents()
	}
	if len(evs) == 0 {
		return nil, nil
	}
	return evs, nil
}

// field is one header field; key as written.
type field struct {
	key   string
	value string
}

type header []field

func (h header) get(key string) string {
	for _, f := range h {
		if strings.EqualFold(f.key, key) {
			return f.value
		}
	}
	return ""
}

func (h header) has(key string) bool {
	for _, f := range h {
		if strings.EqualFold(f.key, key) {
			return true
		}
	}
	return false
}

func (h header) values(key string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.key, key) {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// cutLine returns the first line of b without its line end, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		line, rest = b, nil
	} else {
		line, rest = b[:i], b[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// readHeader reads a header block from b, unfolding folded fields, and returns
// it with what follows the blank line ending it. A line that is no header
// field ends the block and begins the body. ok is false when b does not begin
// with a header field or a blank line. At most maxHeaderLine bytes of a field
// and maxFields fields are kept: nothing is allocated per byte of a long line.
func readHeader(b []byte) (h header, body []byte, ok bool) {
	var cur []byte // the value of the field being read
	var key string
	keep := true
	flush := func() {
		if key != "" && keep {
			h = append(h, field{key: key, value: strings.TrimSpace(string(cur))})
		}
		key, cur = "", cur[:0]
	}
	first := true
	for len(b) > 0 {
		line, rest := cutLine(b)
		if len(line) == 0 {
			flush()
			return h, rest, true
		}
		if line[0] == ' ' || line[0] == '\t' {
			if first {
				return nil, b, false
			}
			if key != "" && len(cur) < maxHeaderLine {
				line = bytes.TrimSpace(line)
				if len(cur) > 0 && len(line) > 0 {
					cur = append(cur, ' ')
				}
				cur = appendCapped(cur, line)
			}
			b = rest
			continue
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || i > 76 || !isFieldName(bytes.TrimRight(line[:i], " \t")) {
			if first {
				return nil, b, false
			}
			flush()
			return h, b, true
		}
		first = false
		flush()
		key = string(bytes.TrimRight(line[:i], " \t"))
		keep = len(h) < maxFields
		cur = appendCapped(cur, bytes.TrimSpace(line[i+1:]))
		b = rest
	}
	flush()
	return h, nil, !first
}

func appendCapped(dst, src []byte) []byte {
	if room := maxHeaderLine - len(dst); len(src) > room {
		if room <= 0 {
			return dst
		}
		src = src[:room]
	}
	return append(dst, src...)
}

func isFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// entity is one leaf of the MIME tree, its body decoded.
type entity struct {
	h         header
	mediaType string
	params    map[string]string
	body      []byte
}

type parser struct {
	top    header
	n      int // entities walked
	leaves []entity
	dsn    *entity // the first message/delivery-status part
	arf    *entity // the first message/feedback-report part
}

func contentType(h header) (string, map[string]string, bool) {
	v := h.get("Content-Type")
	if v == "" {
		return "text/plain", nil, true
	}
	mt, params, err := mime.ParseMediaType(v)
	if mt == "" {
		// Salvage the media type of a value with broken parameters.
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
		if !strings.Contains(mt, "/") || strings.ContainsAny(mt, " \t\"") {
			return "text/plain", nil, false
		}
		return mt, nil, true
	}
	_ = err // parameters may be partly broken: keep what was parsed
	return mt, params, true
}

// walk visits the entity with header h and raw body raw. Errors are only
// reported for the top level: a broken nested part is skipped.
func (p *parser) walk(h header, raw []byte, depth int) error {
	if p.n >= maxParts {
		return nil
	}
	p.n++
	mt, params, ok := contentType(h)
	if !ok && depth == 0 {
		return errors.New("bounce: unparseable Content-Type")
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth >= maxDepth {
			return nil
		}
		boundary := params["boundary"]
		if boundary == "" {
			if depth == 0 {
				return errors.New("bounce: multipart without boundary")
			}
			return nil
		}
		parts, ok := splitMultipart(raw, boundary)
		if !ok {
			if depth == 0 {
				return errors.New("bounce: multipart without its boundary")
			}
			return nil
		}
		for _, part := range parts {
			ph, pb, ok := readHeader(part)
			if !ok {
				ph, pb = nil, part
			}
			if err := p.walk(ph, pb, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	e := entity{h: h, mediaType: mt, params: params, body: decodeBody(h, raw)}
	p.leaves = append(p.leaves, e)
	switch mt {
	case "message/delivery-status", "message/global-delivery-status":
		if p.dsn == nil {
			p.dsn = &entity{h: e.h, mediaType: e.mediaType, body: e.body}
		}
	case "message/feedback-report":
		if p.arf == nil {
			p.arf = &entity{h: e.h, mediaType: e.mediaType, body: e.body}
		}
	}
	return nil
}

// splitMultipart returns the bodies of the parts of a multipart body, at most
// maxParts. ok is false when no delimiter line is found.
func splitMultipart(b []byte, boundary string) (parts [][]byte, ok bool) {
	delim := []byte("--" + boundary)
	start := -1
	for off := 0; off < len(b); {
		line, rest := cutLine(b[off:])
		next := len(b) - len(rest)
		if bytes.HasPrefix(line, delim) {
			tail := bytes.TrimRight(line[len(delim):], " \t")
			closing := bytes.Equal(tail, []byte("--"))
			if closing || len(tail) == 0 {
				ok = true
				if start >= 0 {
					end := off
					if end > start && b[end-1] == '\n' {
						end--
						if end > start && b[end-1] == '\r' {
							end--
						}
					}
					parts = append(parts, b[start:end])
					if len(parts) >= maxParts {
						return parts, true
					}
				}
				if closing {
					return parts, true
				}
				start = next
			}
		}
		off = next
	}
	if start >= 0 && start < len(b) {
		parts = append(parts, b[start:]) // a truncated message: keep the last part
	}
	return parts, ok
}

// decodeBody undoes the entity's Content-Transfer-Encoding, leniently.
func decodeBody(h header, raw []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(h.get("Content-Transfer-Encoding"))) {
	case "base64":
		return decodeBase64(raw)
	case "quoted-printable":
		return decodeQP(raw)
	}
	return raw
}

func decodeBase64(raw []byte) []byte {
	clean := make([]byte, 0, len(raw))
	for _, c := range raw {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=':
			goto done
		}
	}
done:
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func decodeQP(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(raw) {
			if hi, ok := unhex(raw[i+1]); ok {
				if lo, ok := unhex(raw[i+2]); ok {
					out = append(out, hi<<4|lo)
					i += 2
					continue
				}
			}
		}
		// A soft line break: "=" then optional blanks then the line end.
		j := i + 1
		for j < len(raw) && (raw[j] == ' ' || raw[j] == '\t') {
			j++
		}
		if j < len(raw) && raw[j] == '\r' {
			j++
		}
		if j < len(raw) && raw[j] == '\n' {
			i = j
			continue
		}
		if j >= len(raw) {
			break
		}
		out = append(out, c)
	}
	return out
}

// original is what the returned original's headers tell.
type original struct {
	returnPath  string
	unsubscribe string
	to          []string
	found       bool
}

func (o *original) merge(x original) {
	if o.returnPath == "" {
		o.returnPath = x.returnPath
	}
	if o.unsubscribe == "" {
		o.unsubscribe = x.unsubscribe
	}
	if len(o.to) == 0 {
		o.to = x.to
	}
	o.found = o.found || x.found
}

func isOriginalType(mt string) bool {
	switch mt {
	case "message/rfc822", "text/rfc822-headers", "message/global-headers", "message/global":
		return true
	}
	return false
}

// originalFromParts reads the headers of the first returned original part.
func (p *parser) originalFromParts() original {
	for _, e := range p.leaves {
		if !isOriginalType(e.mediaType) {
			continue
		}
		b := e.body
		for {
			line, rest := cutLine(b)
			if len(line) != 0 || len(rest) == 0 {
				break
			}
			b = rest
		}
		h, _, ok := readHeader(b)
		if !ok {
			continue
		}
		return originalFromHeader(h)
	}
	return original{}
}

func originalFromHeader(h header) original {
	o := original{found: true}
	o.returnPath = verp(h.get("Return-Path"))
	o.unsubscribe = unsubscribeToken(h.get("List-Unsubscribe"))
	if to := h.get("To"); to != "" {
		o.to = addressList(to)
	}
	return o
}

// verp returns the address of a Return-Path value if it is one of ours.
func verp(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "<")
	if i := strings.IndexAny(v, "> \t"); i >= 0 {
		v = v[:i]
	}
	if len(v) > maxAddress || !strings.HasPrefix(strings.ToLower(v), "bounces+") || strings.Count(v, "@") != 1 {
		return ""
	}
	return v
}

// unsubscribeToken returns the token of a List-Unsubscribe value:
// the last path segment of an https URI, or the part between "+" and "@" of
// a mailto URI.
func unsubscribeToken(v string) string {
	for n := 0; n < 8 && v != ""; n++ {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ""
		}
		v = v[i+1:]
		j := strings.IndexByte(v, '>')
		if j < 0 {
			return ""
		}
		uri := strings.TrimSpace(v[:j])
		v = v[j+1:]
		if t := tokenOf(uri); t != "" {
			return t
		}
	}
	return ""
}

func tokenOf(uri string) string {
	lower := strings.ToLower(uri)
	var t string
	switch {
	case strings.HasPrefix(lower, "https:") || strings.HasPrefix(lower, "http:"):
		u, err := url.Parse(uri)
		if err != nil {
			return ""
		}
		path := strings.TrimRight(u.Path, "/")
		t = path[strings.LastIndexByte(path, '/')+1:]
	case strings.HasPrefix(lower, "mailto:"):
		addr := uri[len("mailto:"):]
		if i := strings.IndexByte(addr, '?'); i >= 0 {
			addr = addr[:i]
		}
		if s, err := url.PathUnescape(addr); err == nil {
			addr = s
		}
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return ""
		}
		local := addr[:at]
		plus := strings.IndexByte(local, '+')
		if plus < 0 {
			return ""
		}
		t = local[plus+1:]
	default:
		return ""
	}
	if t == "" || len(t) > maxToken {
		return ""
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '=') {
			return ""
		}
	}
	return t
}

// addressList returns the lower-cased addresses of an address list header.
func addressList(v string) []string {
	if list, err := mail.ParseAddressList(v); err == nil {
		var out []string
		for _, a := range list {
			if addr := cleanAddress(a.Address); addr != "" {
				out = append(out, addr)
			}
		}
		return out
	}
	if a := cleanAddress(v); a != "" {
		return []string{a}
	}
	return nil
}

// cleanAddress returns a lower-cased addr-spec, or "" when s is none.
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
	}
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ">")
	if len(s) < 3 || len(s) > maxAddress || strings.ContainsAny(s, " \t<>,;\"()[]\\") || strings.Count(s, "@") != 1 {
		return ""
	}
	at := strings.IndexByte(s, '@')
	if at == 0 || at == len(s)-1 {
		return ""
	}
	return strings.ToLower(s)
}

// typedAddress returns the address of a DSN address field ("rfc822; a@b").
func typedAddress(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[i+1:]
	}
	return cleanAddress(v)
}

// afterType strips the type of a DSN diagnostic ("smtp; 550 …").
func afterType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 && i < 32 && !strings.ContainsAny(v[:i], " \t") {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// fallbackReturnPath looks for our VERP address in the report's own envelope
// fields: a report goes to the original's envelope sender.
func (p *parser) fallbackReturnPath(extra ...string) string {
	for _, v := range extra {
		if rp := verp(typedAddress(v)); rp != "" {
			return rp
		}
	}
	for _, k := range []string{"X-Original-To", "Delivered-To", "To"} {
		for _, v := range p.top.values(k) {
			for _, a := range addressList(v) {
				if rp := verp(a); rp != "" {
					return rp
				}
			}
		}
	}
	return ""
}

// blocks splits a delivery-status or feedback-report body into header blocks.
func blocks(b []byte, max int) []header {
	var out []header
	for len(b) > 0 && len(out) < max {
		line, rest := cutLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			b = rest
			continue
		}
		h, body, ok := readHeader(b)
		if !ok || len(body) == len(b) {
			b = rest // a line that is no field: skip it
			continue
		}
		if len(h) > 0 {
			out = append(out, h)
		}
		b = body
	}
	return out
}

func firstWord(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t(;"); i >= 0 {
		s = s[:i]
	}
	return strings.ToLower(s)
}

func (p *parser) dsnEvents() []Event {
	bs := blocks(p.dsn.body, maxRecipients+1)
	if len(bs) == 0 {
		return nil
	}
	perMsg := bs[0]
	rcpts := bs[1:]
	if perMsg.has("Final-Recipient") || perMsg.has("Original-Recipient") || perMsg.has("Action") {
		rcpts = bs // no blank line after the per-message fields
	}
	orig := p.originalFromParts()
	if orig.returnPath == "" {
		orig.returnPath = p.fallbackReturnPath(perMsg.get("X-Postfix-Sender"))
	}
	var evs []Event
	for _, rh := range rcpts {
		status := FindStatus(rh.get("Status"))
		diag := afterType(rh.get("Diagnostic-Code"))
		if status == "" {
			status = FindStatus(diag)
		}
		action := firstWord(rh.get("Action"))
		if action == "" && strings.HasPrefix(status, "5.") {
			action = "failed"
		}
		if action != "failed" {
			continue
		}
		rcpt := typedAddress(rh.get("Final-Recipient"))
		if rcpt == "" {
			rcpt = typedAddress(rh.get("Original-Recipient"))
		}
		if rcpt == "" && len(orig.to) == 1 && !rh.has("Final-Recipient") {
			rcpt = orig.to[0]
		}
		evs = append(evs, Event{
			Kind:        Classify(0, status, diag),
			Recipient:   rcpt,
			ReturnPath:  orig.returnPath,
			Unsubscribe: orig.unsubscribe,
			Status:      status,
			Diagnostic:  Redact(diag),
			Source:      SourceDSN,
		})
		if len(evs) >= maxRecipients {
			break
		}
	}
	return evs
}

func (p *parser) arfEvents() []Event {
	fr, _, _ := readHeader(bytes.TrimLeft(p.arf.body, "\r\n"))
	switch firstWord(fr.get("Feedback-Type")) {
	case "abuse", "fraud", "virus", "other":
	default:
		return nil // not-spam, auth-failure, unknown
	}
	orig := p.originalFromParts()
	if orig.returnPath == "" {
		orig.returnPath = p.fallbackReturnPath(fr.get("Original-Mail-From"))
	}
	var rcpts []string
	seen := map[string]bool{}
	for _, v := range fr.values("Original-Rcpt-To") {
		if a := cleanAddress(v); a != "" && !seen[a] && len(rcpts) < maxRecipients {
			seen[a] = true
			rcpts = append(rcpts, a)
		}
	}
	if len(rcpts) == 0 {
		if len(orig.to) > 0 {
			rcpts = orig.to[:1]
		} else {
			rcpts = []string{""}
		}
	}
	evs := make([]Event, 0, len(rcpts))
	for _, a := range rcpts {
		evs = append(evs, Event{
			Kind:        Complaint,
			Recipient:   a,
			ReturnPath:  orig.returnPath,
			Unsubscribe: orig.unsubscribe,
			Source:      SourceARF,
		})
	}
	return evs
}

// Plain-text bounces.

var (
	vacationSubject = regexp.MustCompile(`(?i)^\s*(automatic reply|auto:|autoreply|auto-reply|auto response|out of (the )?office|vacation|abwesenheit|réponse automatique|respuesta automática|risposta automatica|i am out of)`)
	bounceSubject   = regexp.MustCompile(`(?i)(undelivered mail returned to sender|mail delivery failed|failure notice|undeliverable|delivery status notification \(failure\)|returned mail|delivery failure|undelivered mail|mail delivery (system|subsystem)|non[- ]?delivery|delivery has failed|could not be delivered)`)
	bounceFrom      = regexp.MustCompile(`(?i)(^|[<\s"])(mailer-daemon|postmaster|mail delivery (system|subsystem))\b`)

	bodyMarkers = []string{
		"this is the qmail-send program",
		"this message was created automatically by mail delivery software",
		"delivery has failed to these recipients or groups",
		"diagnostic information for administrators",
		"sorry, we were unable to deliver your message",
		"could not be delivered to one or more",
		"your message did not reach some or all of the intended recipients",
		"i'm afraid i wasn't able to deliver your message",
		"delivery to the following recipient failed permanently",
		"the following address(es) failed",
		"following recipient(s) cannot be reached",
	}
	// Where a copy of the original begins in a plain-text bounce.
	originalMarkers = []string{
		"--- below this line is a copy of the message",
		"------ this is a copy of the message, including all the headers",
		"------ this is a copy of your message, including all the headers",
		"original message headers:",
		"----- original message -----",
		"----- transcript of session follows -----",
		"original message follows",
		"--- the header of the original message is following",
		"------ original message ------",
	}

	// Postfix signs its bounce with "The mail system" alone on its line.
	postfixSignature = regexp.MustCompile(`(?mi)^[ \t]*the mail system[ \t]*$`)
	angleStart       = regexp.MustCompile(`^<([^<>\s]+@[^<>\s]+)>(?:\s*\([^)]*\))?:\s*(.*)$`)
	eximStart        = regexp.MustCompile(`^ {2}<?([^\s<>]+@[^\s<>]+?)>?\s*$`)
	bareAddr         = regexp.MustCompile(`^\s*<?([^\s<>()]+@[^\s<>()]+?)>?(?:\s+\(.*\))?\s*$`)
	remoteSaid       = regexp.MustCompile(`(?i)remote server returned '([^']*)'?`)
)

func isAutoReply(h header) bool {
	if h.has("X-Autoreply") || h.has("X-Autorespond") {
		return true
	}
	if strings.EqualFold(strings.TrimSpace(h.get("Precedence")), "auto_reply") {
		return true
	}
	return vacationSubject.MatchString(decodeWords(h.get("Subject")))
}

func decodeWords(s string) string {
	d := mime.WordDecoder{}
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// plainText returns the text of the message for the heuristics: its text/plain
// parts, with LF line ends, bounded.
func (p *parser) plainText() string {
	var b strings.Builder
	for _, e := range p.leaves {
		if e.mediaType != "text/plain" {
			continue
		}
		room := maxScan - b.Len()
		if room <= 0 {
			break
		}
		body := e.body
		if len(body) > room {
			body = body[:room]
		}
		b.Write(body)
		b.WriteByte('\n')
	}
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

type plainRcpt struct {
	addr string
	text string
}

func (p *parser) plainEvents() []Event {
	h := p.top
	if isAutoReply(h) {
		return nil
	}
	text := p.plainText()
	lower := strings.ToLower(text)
	bounceish := bounceFrom.MatchString(h.get("From")) || bounceSubject.MatchString(decodeWords(h.get("Subject")))
	if !bounceish {
		marked := postfixSignature.MatchString(text)
		for _, m := range bodyMarkers {
			if strings.Contains(lower, m) {
				marked = true
				break
			}
		}
		if !marked || strings.Contains(strings.ToLower(h.get("Auto-Submitted")), "auto-replied") && !strings.Contains(lower, "delivery") {
			return nil
		}
	}
	// Split the report's words from the copy of the original.
	report, rest := text, ""
	cut := -1
	for _, m := range originalMarkers {
		if i := strings.Index(lower, m); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		report, rest = text[:cut], text[cut:]
	}
	lines := strings.Split(report, "\n")
	rcpts := angleRecipients(lines)
	if len(rcpts) == 0 {
		rcpts = eximRecipients(lines)
	}
	if len(rcpts) == 0 {
		rcpts = exchangeRecipients(lines, report)
	}
	if len(rcpts) == 0 {
		return nil
	}
	orig := p.originalFromParts()
	if rest != "" {
		orig.merge(scanOriginal(rest))
	}
	if orig.returnPath == "" {
		orig.returnPath = p.fallbackReturnPath()
	}
	var evs []Event
	for _, r := range rcpts {
		diag := r.text
		if loc := codeRe.FindStringSubmatchIndex(diag); loc != nil {
			diag = diag[loc[2]:]
		}
		code := findCode(diag)
		evs = append(evs, Event{
			Kind:        Classify(code, "", diag),
			Recipient:   r.addr,
			ReturnPath:  orig.returnPath,
			Unsubscribe: orig.unsubscribe,
			Status:      FindStatus(diag),
			Diagnostic:  Redact(diag),
			Source:      SourceDSN,
		})
	}
	return evs
}

func appendText(s, line string) string {
	line = strings.TrimSpace(line)
	if line == "" || len(s) >= 2048 {
		return s
	}
	if s != "" {
		s += " "
	}
	if len(line) > 2048 {
		line = line[:2048]
	}
	return s + line
}

// angleRecipients reads qmail, Yahoo and Postfix blocks: "<addr>:" (with the
// reply on the same line or the next ones) up to a blank line.
func angleRecipients(lines []string) []plainRcpt {
	var out []plainRcpt
	cur := -1
	for _, line := range lines {
		if len(out) >= maxRecipients && cur < 0 {
			break
		}
		if m := angleStart.FindStringSubmatch(line); m != nil {
			if a := cleanAddress(m[1]); a != "" && len(out) < maxRecipients {
				out = append(out, plainRcpt{addr: a, text: appendText("", m[2])})
				cur = len(out) - 1
				continue
			}
		}
		if strings.TrimSpace(line) == "" {
			cur = -1
			continue
		}
		if cur >= 0 {
			out[cur].text = appendText(out[cur].text, line)
		}
	}
	return out
}

// eximRecipients reads Exim's "  addr" lines and the deeper-indented lines
// after them.
func eximRecipients(lines []string) []plainRcpt {
	var out []plainRcpt
	cur := -1
	for _, line := range lines {
		if m := eximStart.FindStringSubmatch(line); m != nil {
			if a := cleanAddress(m[1]); a != "" && len(out) < maxRecipients {
				out = append(out, plainRcpt{addr: a})
				cur = len(out) - 1
				continue
			}
		}
		if cur >= 0 && strings.HasPrefix(line, "   ") && strings.TrimSpace(line) != "" {
			t := strings.TrimSpace(line)
			if strings.HasPrefix(strings.ToLower(t), "smtp error from remote mail server") {
				continue
			}
			out[cur].text = appendText(out[cur].text, t)
			continue
		}
		cur = -1
	}
	return out
}

// exchangeRecipients reads Outlook/Exchange non-delivery reports: the address
// lines of "Diagnostic information for administrators:" and the reply after
// each, else the addresses after "Delivery has failed to these recipients or
// groups:" with the "Remote Server returned" text.
func exchangeRecipients(lines []string, report string) []plainRcpt {
	var out []plainRcpt
	in := false
	pending := ""
	for _, line := range lines {
		t := strings.TrimSpace(line)
		lt := strings.ToLower(t)
		if strings.HasPrefix(lt, "diagnostic information for administrators") {
			in = true
			continue
		}
		if !in || t == "" || strings.HasPrefix(lt, "generating server:") {
			continue
		}
		if m := bareAddr.FindStringSubmatch(t); m != nil {
			if a := cleanAddress(m[1]); a != "" {
				pending = a
				continue
			}
		}
		if pending != "" && len(out) < maxRecipients {
			text := t
			if m := remoteSaid.FindStringSubmatch(t); m != nil {
				text = m[1]
			}
			out = append(out, plainRcpt{addr: pending, text: appendText("", text)})
			pending = ""
		}
	}
	if len(out) > 0 {
		return out
	}
	// No administrators' section: the addresses of the first paragraphs.
	var reply string
	if m := remoteSaid.FindStringSubmatch(report); m != nil {
		reply = m[1]
	}
	in = false
	for _, line := range lines {
		t := strings.TrimSpace(line)
		lt := strings.ToLower(t)
		if strings.Contains(lt, "delivery has failed to these recipients or groups") || strings.Contains(lt, "following recipient(s) cannot be reached") {
			in = true
			continue
		}
		if !in || t == "" {
			continue
		}
		fields := strings.Fields(t)
		a := cleanAddress(strings.Trim(fields[0], "<>()"))
		if a == "" && len(fields) > 1 {
			a = cleanAddress(strings.Trim(fields[len(fields)-1], "<>()"))
		}
		if a != "" {
			if len(out) >= maxRecipients {
				break
			}
			out = append(out, plainRcpt{addr: a, text: reply})
			continue
		}
		if n := len(out); n > 0 && reply == "" && (strings.Contains(t, "#") || codeRe.MatchString(t)) {
			out[n-1].text = appendText(out[n-1].text, t)
		}
	}
	return out
}

// scanOriginal finds the original's Return-Path, List-Unsubscribe and To
// lines (folded or not) anywhere in a copy of it pasted as text.
func scanOriginal(s string) original {
	if len(s) > 64<<10 {
		s = s[:64<<10]
	}
	lines := strings.Split(s, "\n")
	get := func(name string) string {
		prefix := strings.ToLower(name) + ":"
		for i, line := range lines {
			if len(line) < len(prefix) || !strings.EqualFold(line[:len(prefix)], prefix) {
				continue
			}
			v := strings.TrimSpace(line[len(prefix):])
			for _, c := range lines[i+1:] {
				if c == "" || (c[0] != ' ' && c[0] != '\t') || len(v) >= maxHeaderLine {
					break
				}
				v += " " + strings.TrimSpace(c)
			}
			return v
		}
		return ""
	}
	h := header{}
	for _, k := range []string{"Return-Path", "List-Unsubscribe", "To"} {
		if v := get(k); v != "" {
			h = append(h, field{key: k, value: v})
		}
	}
	if len(h) == 0 {
		return original{}
	}
	return originalFromHeader(h)
}
