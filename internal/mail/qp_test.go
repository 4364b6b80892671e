package mail

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

func checkQP(t *testing.T, in []byte) {
	t.Helper()
	var w bytes.Buffer
	writeQP(&w, in)
	out := w.Bytes()
	for _, line := range strings.Split(string(out), "\r\n") {
		if len(line) > 76 {
			t.Fatalf("line of %d characters: %q", len(line), line)
		}
		for _, c := range []byte(line) {
			if c > 126 || (c < 32 && c != '\t') {
				t.Fatalf("byte %#x left unencoded in %q", c, line)
			}
		}
		if n := len(line); n > 0 && (line[n-1] == ' ' || line[n-1] == '\t') {
			t.Fatalf("line ends with whitespace: %q", line)
		}
	}
	if bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) || bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\r")) {
		t.Fatalf("bare CR or LF in %q", out)
	}
	got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(out)))
	if err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	// Line ends come back as CRLF.
	want := bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	if !bytes.Equal(got, want) {
		t.Fatalf("round trip of %q:\n got %q\nwant %q\n via %q", in, got, want, out)
	}
}

func TestWriteQP(t *testing.T) {
	for _, in := range []string{
		"", "plain", "a=b", "trailing space \nnext", "tab\t\r\nx", "end with space ",
		"Café “quotes” — and ünïcödé", strings.Repeat("x", 200), strings.Repeat("é", 100),
		strings.Repeat("word ", 40) + "\n" + strings.Repeat("=", 30), "bare\rcr", "\x00\x01\x7f\xff",
		strings.Repeat("a", 74) + " \n", strings.Repeat("a", 75) + "=", ".\n..\n",
	} {
		checkQP(t, []byte(in))
	}
}

func FuzzWriteQP(f *testing.F) {
	for _, s := range []string{"", "a=b", "x \n", "Café\r\n", strings.Repeat("ab ", 60)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkQP(t, in) })
}

func BenchmarkWriteQP(b *testing.B) {
	body := []byte(strings.Repeat("<p>This is the weekly letter with news, notes and links for our readers. Café “quotes”.</p>", 60))
	var w bytes.Buffer
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		w.Reset()
		writeQP(&w, body)
	}
}
