package bounce

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	testReturnPath = "bounces+c12-34-abcdefghijklmnop@bounces.example.org"
	testToken      = "AbC-dEf_123"
)

func TestParseShapes(t *testing.T) {
	type want struct {
		kind      Kind
		recipient string
		status    string
	}
	tests := []struct {
		file        string
		events      []want
		returnPath  string // of every event
		unsubscribe string // of every event
	}{
		{"postfix_dsn_hard.eml", []want{{Hard, "jdoe@example.net", "5.1.1"}}, testReturnPath, testToken},
		{"postfix_dsn_soft_retry.eml", []want{{Soft, "slow.server@example.com", "4.4.1"}}, testReturnPath, testToken},
		{"mailbox_full_4_2_2.eml", []want{{Soft, "full.box@example.com", "4.2.2"}}, testReturnPath, testToken},
		{"status_5_2_2.eml", []want{{Soft, "over.quota@example.com", "5.2.2"}}, testReturnPath, testToken},
		{"two_recipients.eml", []want{{Hard, "gone@example.net", "5.1.1"}}, testReturnPath, testToken},
		{"exim_dsn.eml", []want{{Hard, "nobody@example.co.uk", "5.0.0"}}, testReturnPath, testToken},
		{"exim_plain.eml", []want{{Hard, "no.one@example.org.uk", "5.1.1"}}, testReturnPath, testToken},
		{"gmail_nosuchuser.eml", []want{{Hard, "no.such.user.4711@gmail.com", "5.1.1"}}, testReturnPath, testToken},
		{"gmail_dmarc_5_7_26.eml", []want{{Sender, "reader@gmail.com", "5.7.26"}}, testReturnPath, testToken},
		{"exchange_5_1_10.eml", []want{{Hard, "jdoe@contoso.example", "5.1.10"}}, testReturnPath, testToken},
		{"exchange_5_7_515.eml", []want{{Sender, "buyer@fabrikam.example", "5.7.515"}}, testReturnPath, testToken},
		{"exchange_plain.eml", []want{{Hard, "jroe@old.example.com", "5.1.1"}}, testReturnPath, testToken},
		{"yahoo_plain.eml", []want{{Hard, "missing.reader@yahoo.com", ""}}, testReturnPath, testToken},
		{"qmail.eml", []want{{Hard, "old.account@example.info", "5.1.1"}}, testReturnPath, testToken},
		{"postfix_plain.eml", []want{{Hard, "left.company@example.biz", "5.1.1"}}, testReturnPath, testToken},
		{"global_dsn.eml", []want{{Hard, "yuki@example.jp", "5.1.1"}}, testReturnPath, testToken},
		{"arf_yahoo_headers.eml", []want{{Complaint, "complainer@yahoo.com", ""}}, testReturnPath, testToken},
		{"arf_rfc822.eml", []want{{Complaint, "reader@hotmail.example", ""}}, testReturnPath, testToken},
		{"arf_not_spam.eml", nil, "", ""},
		{"autoreply.eml", nil, "", ""},
		{"person.eml", nil, "", ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "shapes", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := Parse(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(evs) != len(tt.events) {
				t.Fatalf("got %d events %+v, want %d", len(evs), evs, len(tt.events))
			}
			if tt.events == nil && evs != nil {
				t.Fatalf("got %#v, want nil", evs)
			}
			for i, ev := range evs {
				w := tt.events[i]
				if ev.Kind != w.kind || ev.Recipient != w.recipient || ev.Status != w.status {
					t.Errorf("event %d: got %v %q %q, want %v %q %q (%q)", i, ev.Kind, ev.Recipient, ev.Status, w.kind, w.recipient, w.status, ev.Diagnostic)
				}
				if ev.ReturnPath != tt.returnPath {
					t.Errorf("event %d: ReturnPath %q, want %q", i, ev.ReturnPath, tt.returnPath)
				}
				if ev.Unsubscribe != tt.unsubscribe {
					t.Errorf("event %d: Unsubscribe %q, want %q", i, ev.Unsubscribe, tt.unsubscribe)
				}
				wantSource := SourceDSN
				if w.kind == Complaint {
					wantSource = SourceARF
				} else if ev.Diagnostic == "" {
					t.Errorf("event %d: no Diagnostic", i)
				}
				if ev.Source != wantSource {
					t.Errorf("event %d: Source %q, want %q", i, ev.Source, wantSource)
				}
				if strings.Contains(ev.Diagnostic, "@") || len(ev.Diagnostic) > 200 {
					t.Errorf("event %d: Diagnostic %q has an address or is too long", i, ev.Diagnostic)
				}
				if ev.ID != "" {
					t.Errorf("event %d: ID %q for mail", i, ev.ID)
				}
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "shapes", "*.eml"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s is in no test case", f)
		}
	}
}

// The LF and CRLF forms of a message give the same events.
func TestParseLineEnds(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "shapes", "*.eml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lf := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
		a, errA := Parse(bytes.NewReader(lf))
		b, errB := Parse(bytes.NewReader(crlf))
		if errA != nil || errB != nil {
			t.Errorf("%s: %v, %v", f, errA, errB)
			continue
		}
		if len(a) != len(b) {
			t.Errorf("%s: %d events with LF, %d with CRLF", f, len(a), len(b))
			continue
		}
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("%s: event %d: LF %+v, CRLF %+v", f, i, a[i], b[i])
			}
		}
	}
}

func TestParseDiagnostic(t *testing.T) {
	data, err := os.ReadFile("testdata/shapes/gmail_nosuchuser.eml")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := Parse(bytes.NewReader(data))
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	if d := evs[0].Diagnostic; !strings.HasPrefix(d, "550-5.1.1 The email account that you tried to reach does not exist") {
		t.Errorf("Diagnostic %q", d)
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":              "",
		"no header":          "hello, this is no message\n",
		"blank first line":   "\nSubject: x\n",
		"multipart no bound": "From: a@b\nContent-Type: multipart/report; report-type=delivery-status\n\nbody\n",
		"boundary missing":   "From: a@b\nContent-Type: multipart/mixed; boundary=zz\n\n--yy\n\nx\n",
		"broken type":        "From: a@b\nContent-Type: ;;;\n\nx\n",
	} {
		evs, err := Parse(strings.NewReader(in))
		if err == nil {
			t.Errorf("%s: no error, %v", name, evs)
		}
	}
}

func TestParseBounds(t *testing.T) {
	// A DSN with more recipient blocks than maxRecipients.
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x.example\n")
	for i := 0; i < maxRecipients+50; i++ {
		b.WriteString("\nFinal-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1.1\n")
	}
	b.WriteString("\n--B--\n")
	evs, err := Parse(strings.NewReader(b.String()))
	if err != nil || len(evs) != maxRecipients {
		t.Errorf("got %d events, %v; want %d", len(evs), err, maxRecipients)
	}

	// Deep nesting and many parts.
	b.Reset()
	b.WriteString("From: a@b.example\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 1; i < 100; i++ {
		b.WriteString("--b" + itoa(i-1) + "\nContent-Type: multipart/mixed; boundary=b" + itoa(i) + "\n\n")
	}
	if _, err := Parse(strings.NewReader(b.String())); err != nil {
		t.Errorf("nesting: %v", err)
	}

	// A giant header line and a giant folded header.
	big := "From: MAILER-DAEMON@x.example\nSubject: failure notice\nX-Big: " + strings.Repeat("a", 1<<20) + "\nX-Fold: a\n" + strings.Repeat(" b\n", 1<<16) + "\nHi. This is the qmail-send program at x.\n\n<u@v.example>:\n550 5.1.1 no\n"
	evs, err = Parse(strings.NewReader(big))
	if err != nil || len(evs) != 1 || evs[0].Recipient != "u@v.example" {
		t.Errorf("big header: %v %v", evs, err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestReadHeaderFolding(t *testing.T) {
	h, body, ok := readHeader([]byte("List-Unsubscribe: <https://a.example/unsubscribe/T1>,\r\n\t<mailto:unsubscribe+T1@a.example>\r\nSubject:  hi \r\n\r\nbody"))
	if !ok || string(body) != "body" {
		t.Fatalf("ok %v body %q", ok, body)
	}
	if got := h.get("list-unsubscribe"); got != "<https://a.example/unsubscribe/T1>, <mailto:unsubscribe+T1@a.example>" {
		t.Errorf("folded: %q", got)
	}
	if got := h.get("Subject"); got != "hi" {
		t.Errorf("Subject %q", got)
	}
}

func TestUnsubscribeToken(t *testing.T) {
	for in, want := range map[string]string{
		"<https://news.example.org/unsubscribe/AbC-dEf_123>":                                      "AbC-dEf_123",
		"<https://news.example.org/unsubscribe/AbC-dEf_123/>":                                     "AbC-dEf_123",
		"<mailto:unsubscribe+AbC-dEf_123@bounces.example.org?subject=unsubscribe>":                "AbC-dEf_123",
		"<mailto:unsubscribe+AbC-dEf_123@bounces.example.org>, <https://x.example/unsubscribe/Z>": "AbC-dEf_123",
		"<mailto:list@example.org>, <https://x.example/unsubscribe/Z>":                            "Z",
		"<https://x.example/unsubscribe/a%20b>":                                                   "",
		"<ftp://x.example/T>":                                                                     "",
		"":                                                                                        "",
		"<https://x.example/unsubscribe/T":                                                        "",
	} {
		if got := unsubscribeToken(in); got != want {
			t.Errorf("unsubscribeToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecode(t *testing.T) {
	if got := string(decodeQP([]byte("a=3Db=\r\nc=\nd =XY=4"))); got != "a=bcd =XY=4" {
		t.Errorf("decodeQP: %q", got)
	}
	if got := string(decodeBase64([]byte("aGVs\r\nbG8=\r\n"))); got != "hello" {
		t.Errorf("decodeBase64: %q", got)
	}
	if got := string(decodeBase64([]byte("aGVsbG8"))); got != "hello" {
		t.Errorf("decodeBase64 unpadded: %q", got)
	}
}

func TestClassifyCases(t *testing.T) {
	for _, tt := range []struct {
		code         int
		status, text string
		want         Kind
	}{
		{0, "5.1.1", "", Hard},
		{0, "5.1.10", "RESOLVER.ADR.RecipientNotFound", Hard},
		{0, "4.2.2", "", Soft},
		{0, "5.2.2", "", Soft},
		{0, "5.7.26", "", Sender},
		{0, "5.7.515", "", Sender},
		{0, "4.7.0", "", Sender},
		{0, "5.1.8", "Sender address rejected: Domain not found", Sender},
		{0, "5.3.4", "message size exceeds fixed limit", Sender},
		{0, "", "550 5.1.1 user unknown", Hard},
		{0, "", "554 delivery error: dd This user doesn't have a yahoo.com account", Hard},
		{554, "", "delivery error: dd This user doesn't have a yahoo.com account", Hard},
		{0, "", "452 4.2.2 The email account that you tried to reach is over quota", Soft},
		{0, "", "552 5.2.0 mailbox full", Soft},
		{550, "", "mailbox full", Soft},
		{0, "", "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org", Sender},
		{550, "", "rejected due to DMARC policy", Sender},
		{0, "", "Connection timed out", Soft},
		{0, "", "Unrouteable address", Hard},
		{0, "", "host mx.example.net [10.4.4.1]: 550 no such user", Hard}, // not "4.4.1" from the IP
		{421, "", "try again later", Soft},
		{0, "", "", Soft},
	} {
		if got := Classify(tt.code, tt.status, tt.text); got != tt.want {
			t.Errorf("Classify(%d, %q, %q) = %v, want %v", tt.code, tt.status, tt.text, got, tt.want)
		}
	}
}

func TestFindStatus(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.1.1 <a@b>":           "5.1.1",
		"(#5.1.1)":                  "5.1.1",
		"ends with 4.2.2.":          "4.2.2",
		"host [10.4.4.1] said 550":  "",
		"1.2.5.1.1 nope, 5.7.26 ok": "5.7.26",
		"version 2.5.1.4":           "",
	} {
		if got := FindStatus(in); got != want {
			t.Errorf("FindStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactCases(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.1.1 <jdoe@example.net>: User unknown": "550 5.1.1 <address>: User unknown",
		`"john doe"@example.net is gone`:             `"john doe" example.net is gone`,
		"a @ b":                                      "a b",
		"line\r\n\tnext\x00":                         "line next",
		"full\uff20width":                            "full width",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	long := Redact(strings.Repeat("é", 150))
	if len(long) > 200 || !strings.HasPrefix(strings.Repeat("é", 150), long) {
		t.Errorf("long: %d bytes %q", len(long), long)
	}
	if got := Redact("\xff\xfe ok"); !utf8.ValidString(got) {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
}
