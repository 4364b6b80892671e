package mail

import (
	"bytes"
	"sync"
	"sync/atomic"
	"unsafe"
)

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
	encodeQP(w, body, 0)
}

// encodeQP is writeQP for a body that continues a line already col characters
// long; it returns the length of the last line written.
func encodeQP(w *bytes.Buffer, body []byte, col int) int {
	w.Grow(len(body) + len(body)/16)
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
	return col
}

// lineEndsAt reports whether a line ending or the end of body is at i.
func lineEndsAt(body []byte, i int) bool {
	return i >= len(body) || body[i] == '\n' || (body[i] == '\r' && i+1 < len(body) && body[i+1] == '\n')
}

// QPWriter quoted-printable encodes what is written to it into Buf, so that a
// template can be executed straight into an encoded part. A template writes
// its constant text as the same slices every time: writes of at least
// qpCacheMin bytes are looked up in Cache, and a hit (same slice, same bytes)
// copies the encoding made the first time instead of encoding again. Each
// cached encoding starts a line (a soft line break is added before it when
// needed), so it is valid wherever it lands.
type QPWriter struct {
	Buf   *bytes.Buffer
	Cache *QPCache // nil: encode everything
	col   int
}

const qpCacheMin = 64

func (q *QPWriter) Write(p []byte) (int, error) {
	if q.Cache == nil || len(p) < qpCacheMin {
		q.col = encodeQP(q.Buf, p, q.col)
		return len(p), nil
	}
	if q.col != 0 {
		q.Buf.WriteString("=\r\n")
		q.col = 0
	}
	if e := q.Cache.lookup(p); e != nil {
		q.Buf.Write(e.enc)
		q.col = e.col
		return len(p), nil
	}
	start := q.Buf.Len()
	q.col = encodeQP(q.Buf, p, 0)
	q.Cache.store(p, q.Buf.Bytes()[start:], q.col)
	return len(p), nil
}

// QPCache holds the encodings of a template's constant text (see QPWriter).
// Safe for concurrent use; it keeps at most qpCacheMax entries.
type QPCache struct {
	m sync.Map // qpKey → *qpEntry
	n atomic.Int32
}

const qpCacheMax = 256

type qpKey struct {
	p *byte
	n int
}

type qpEntry struct {
	src, enc []byte // copies: the written slice may change after the write
	col      int
	volatile bool // this slice held other bytes before: a buffer, not a constant
}

func (c *QPCache) lookup(p []byte) *qpEntry {
	v, ok := c.m.Load(qpKey{unsafe.SliceData(p), len(p)})
	if !ok {
		return nil
	}
	if e := v.(*qpEntry); !e.volatile && bytes.Equal(e.src, p) {
		return e
	}
	return nil
}

func (c *QPCache) store(p, enc []byte, col int) {
	k := qpKey{unsafe.SliceData(p), len(p)}
	if v, ok := c.m.Load(k); ok {
		if e := v.(*qpEntry); !e.volatile && !bytes.Equal(e.src, p) {
			// Same slice, other bytes: never cache it again.
			c.m.Store(k, &qpEntry{volatile: true})
		}
		return
	}
	if c.n.Add(1) > qpCacheMax {
		return
	}
	c.m.Store(k, &qpEntry{src: bytes.Clone(p), enc: bytes.Clone(enc), col: col})
}
