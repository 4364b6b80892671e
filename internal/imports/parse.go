package imports

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
)

// Limits of a row's fields.
const (
	MaxNameLength    = 200 // characters, as for signups
	MaxSourceLength  = 100 // characters of consent_source
	MaxVersionLength = 100 // characters of consent_text_version
	maxFieldBytes    = 4096
)

// Columns an import file may have; email is required.
var knownColumns = []string{"email", "name", "consented_at", "consent_source", "consent_text_version"}

// Row is one valid data row of an import file.
type Row struct {
	Line        int64 // the file's line where the row starts (the header is line 1)
	Email       string
	Name        string
	ConsentedAt *time.Time // set with Source (and Version, or the request's text) as proof of consent
	Source      string
	Version     string
}

// LineError is a bad row: its line and what is wrong, naming the field, never its value.
type LineError struct {
	Line   int64
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Reader reads an import file row by row (encoding/csv, header row first),
// holding one row at a time.
type Reader struct {
	csv *csv.Reader
	col map[string]int
	now time.Time
}

// NewReader reads the header of an import file. Columns (any order, any case):
// email (required), name, consented_at, consent_source, consent_text_version.
// Codes: invalid (Field file) for a missing or bad header.
func NewReader(r io.Reader, now time.Time) (*Reader, error) {
	c := csv.NewReader(r)
	c.FieldsPerRecord = -1
	c.ReuseRecord = true
	hdr, err := c.Read()
	if errors.Is(err, io.EOF) {
		return nil, apperr.FieldError("file", "The file is empty: it needs a header row (email, and optionally name, consented_at, consent_source, consent_text_version).")
	}
	if err != nil {
		return nil, apperr.FieldError("file", "The header row cannot be read as CSV: "+csvReason(err))
	}
	col := map[string]int{}
	for i, h := range hdr {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, k := range knownColumns {
			known = known || h == k
		}
		if !known {
			return nil, apperr.FieldError("file", fmt.Sprintf("Column %d of the header (%.40q) is not one Envoi knows: use %s.", i+1, h, strings.Join(knownColumns, ", ")))
		}
		if _, dup := col[h]; dup {
			return nil, apperr.FieldError("file", fmt.Sprintf("The header names the column %s twice.", h))
		}
		col[h] = i
	}
	if _, ok := col["email"]; !ok {
		return nil, apperr.FieldError("file", "The header row has no email column.")
	}
	return &Reader{csv: c, col: col, now: now}, nil
}

// Next returns the next valid row, a *LineError for a bad one (reading may go
// on), or io.EOF at the end. Any other error ends the file (the upload broke).
func (r *Reader) Next() (Row, error) {
	rec, err := r.csv.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrFieldCount) {
			return Row{}, &LineError{Line: int64(pe.StartLine), Reason: "not valid CSV: " + csvReason(err)}
		}
		return Row{}, err
	}
	line, _ := r.csv.FieldPos(0)
	return parseRow(rec, r.col, int64(line), r.now)
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseRow checks one record against the header's columns.
func parseRow(rec []string, col map[string]int, line int64, now time.Time) (Row, error) {
	bad := func(format string, args ...any) (Row, error) {
		return Row{}, &LineError{Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	if len(rec) != len(col) {
		return bad("%d fields where the header has %d", len(rec), len(col))
	}
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for _, f := range rec {
		if len(f) > maxFieldBytes {
			return bad("a field is longer than %d bytes", maxFieldBytes)
		}
	}
	row := Row{Line: line}
	email, err := address.Normalize(get("email"))
	if err != nil {
		return bad("email: %s", err.Error())
	}
	row.Email = email
	row.Name = get("name")
	if !utf8.ValidString(row.Name) || strings.IndexFunc(row.Name, unicode.IsControl) >= 0 {
		return bad("name: contains characters that cannot be used")
	}
	if utf8.RuneCountInString(row.Name) > MaxNameLength {
		return bad("name: longer than %d characters", MaxNameLength)
	}
	at, src, ver := get("consented_at"), get("consent_source"), get("consent_text_version")
	if at == "" && src == "" && ver == "" {
		return row, nil
	}
	if at == "" || src == "" {
		return bad("incomplete proof of consent: consented_at and consent_source go together (with consent_text_version, or the import's consent text); leave all three empty for a row without proof")
	}
	t, err := parseDate(at)
	if err != nil {
		return bad("consented_at: not a date (use RFC 3339, like 2024-05-17T09:30:00Z, or YYYY-MM-DD)")
	}
	if t.After(now) {
		return bad("consented_at: in the future")
	}
	if t.Year() < 1990 {
		return bad("consented_at: before 1990")
	}
	for name, v := range map[string]string{"consent_source": src, "consent_text_version": ver} {
		if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return bad("%s: contains characters that cannot be used", name)
		}
	}
	if utf8.RuneCountInString(src) > MaxSourceLength {
		return bad("consent_source: longer than %d characters", MaxSourceLength)
	}
	if utf8.RuneCountInString(ver) > MaxVersionLength {
		return bad("consent_text_version: longer than %d characters", MaxVersionLength)
	}
	row.ConsentedAt, row.Source, row.Version = &t, src, ver
	return row, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	return t.UTC(), err
}
