package mail

import "bytes"

// qpSafe marks the bytes quoted-printable keeps as they are (RFC 2045 6.7 rules
// 2 and 3): printable ASCII except "=", space and tab (at a line's end those are
// encoded, see writeQP).
var qpSafe = func() (t [256]bool) {
	for c := 33; c <= 126; c++ {
		t[c] = c != '='
	}
	t[' '], t['\t'] = true, true
	return t
}()

const upperHex = "0123456789ABCDEF"

// writeQP appends body to w quoted-printable encoded, every line ending (LF or
// CRLF) written as CRLF, lines of at most 76 characters with soft breaks.
// mime/quotedprintable does the same a byte at a time; this copies runs of
// plain bytes, which is most of a newsletter, and is several times faster on
// the per-recipient path. FuzzWriteQP checks it against mime/quotedprintable's
// reader.
func writeQP(w *bytes.Buffer, body []byte) {
	w.Grow(len(body) + len(body)/16)
	col := 0
	for i := 0; i < len(body); {
		c := body[i]
		if c == '\n' {
			w.WriteString("\r\n")
			col, i = 0, i+1
			continue
		}
		if c == '\r' && i+1 < len(body) && body[i+1] == '\n' {
			w.WriteString("\r\n")
			col, i = 0, i+2
			continue
		}
		// A run of plain bytes that fits on this line.
		j := min(len(body), i+75-col)
		for k, b := range body[i:j] {
			if !qpSafe[b] {
				j = i + k
				break
			}
		}
		if j > i {
			// Whitespace right before a line end (or the end) must be encoded.
			if last := body[j-1]; (last == ' ' || last == '\t') && lineEndsAt(body, j) {
				j--
			}
			w.Write(body[i:j])
			col += j - i
			if j > i {
				i = j
				continue
			}
		}
		// Either the line is full or body[i] must be encoded.
		if lineEndsAt(body, i) {
			continue
		}
		if qpSafe[c] && !((c == ' ' || c == '\t') && lineEndsAt(body, i+1)) {
			if col+1 > 75 {
				w.WriteString("=\r\n")
				col = 0
			}
			continue
		}
		if col+3 > 75 {
			w.WriteString("=\r\n")
			col = 0
		}
		w.WriteByte('=')
		w.WriteByte(upperHex[c>>4])
		w.WriteByte(upperHex[c&15])
		col += 3
		i++
	}
}

// lineEndsAt reports whether a line ending or the end of body is at i.
func lineEndsAt(body []byte, i int) bool {
	return i >= len(body) || body[i] == '\n' || (body[i] == '\r' && i+1 < len(body) && body[i+1] == '\n')
}
