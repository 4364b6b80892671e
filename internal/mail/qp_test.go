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
	verifyQP(t, in, w.Bytes())
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

// checkQPWriter writes in as chunks (cut at the given offsets) through a
// QPWriter twice with one cache, the second time also with one chunk's buffer
// changed in place, and checks each result like checkQP.
func checkQPWriter(t *testing.T, in []byte, cuts []byte) {
	t.Helper()
	// Chunks are sub-slices of one backing array, as a template's text nodes are.
	var chunks [][]byte
	rest := bytes.Clone(in)
	for _, c := range cuts {
		if len(rest) == 0 {
			break
		}
		n := int(c)*3%len(rest) + 1
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	chunks = append(chunks, rest)
	cache := new(QPCache)
	for round := 0; round < 3; round++ {
		if round == 2 && len(chunks[0]) > 0 {
			chunks[0][0] ^= 0x20 // a buffer reused with other bytes must not hit the cache
		}
		var want []byte
		for _, c := range chunks {
			want = append(want, c...)
		}
		var w bytes.Buffer
		q := &QPWriter{Buf: &w, Cache: cache}
		for _, c := range chunks {
			q.Write(c)
		}
		verifyQP(t, want, w.Bytes())
	}
}

// verifyQP checks out as the quoted-printable form of in: short lines, nothing
// left unencoded, no trailing whitespace or bare CR/LF, and a round trip through
// Go's decoder that gives in back with CRLF line ends.
func verifyQP(t *testing.T, in, out []byte) {
	t.Helper()
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
	want := bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	if !bytes.Equal(got, want) {
		t.Fatalf("round trip of %q:\n got %q\nwant %q\n via %q", in, got, want, out)
	}
}

func TestQPWriter(t *testing.T) {
	long := strings.Repeat("<p>This is the weekly letter, with “quotes” and = signs. </p>\n", 5)
	for _, tt := range []struct {
		in   string
		cuts []byte
	}{
		{long + "Ann" + long, []byte{100, 1}},
		{long, []byte{0, 0, 0, 0, 0}},
		{strings.Repeat("x", 300), []byte{30, 30, 30}},
		{"short\nlines\n" + long + " \n", []byte{2, 40}},
	} {
		checkQPWriter(t, []byte(tt.in), tt.cuts)
	}
}

func FuzzQPWriter(f *testing.F) {
	f.Add([]byte(strings.Repeat("<p>Hello “world” = ok </p>\n", 10)), []byte{10, 50})
	f.Add([]byte(strings.Repeat("a", 200)+"\r\n"+strings.Repeat("é ", 60)), []byte{70, 1, 2})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		if len(cuts) > 64 || bytes.Contains(in, []byte("\r")) {
			return // templates are normalized to LF line ends before they are parsed
		}
		checkQPWriter(t, in, cuts)
	})
}
