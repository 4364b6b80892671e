package imports

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func readAll(t testing.TB, file string) ([]Row, []*LineError, error) {
	r, err := NewReader(strings.NewReader(file), now)
	if err != nil {
		return nil, nil, err
	}
	var rows []Row
	var bad []*LineError
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows, bad, nil
		}
		var le *LineError
		if errors.As(err, &le) {
			bad = append(bad, le)
			continue
		}
		if err != nil {
			return rows, bad, err
		}
		rows = append(rows, row)
	}
}

func TestHeader(t *testing.T) {
	for _, c := range []struct{ name, file, want string }{
		{"ErrEmpty", "", "empty"},
		{"ErrNoEmail", "name\nAnn\n", "no email column"},
		{"ErrUnknownColumn", "email,consent_date\n", "not one Envoi knows"},
		{"ErrTwice", "email,EMAIL\n", "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(t, c.file)
			if e, ok := apperr.As(err); !ok || e.Field != "file" || !strings.Contains(e.Message, c.want) {
				t.Fatalf("%v", err)
			}
		})
	}
	t.Run("BOMAndCase", func(t *testing.T) {
		rows, bad, err := readAll(t, "\ufeffName, EMAIL \r\nAnn,Ann@Example.COM\r\n")
		if err != nil || len(bad) != 0 || len(rows) != 1 || rows[0].Email != "Ann@example.com" || rows[0].Name != "Ann" || rows[0].Line != 2 {
			t.Fatalf("%+v %+v %v", rows, bad, err)
		}
	})
}

func TestRows(t *testing.T) {
	const hdr = "email,name,consented_at,consent_source,consent_text_version\n"
	for _, c := range []struct {
		name, row, bad string
		proof          bool
	}{
		{"NoProof", "a@example.com,Ann,,,", "", false},
		{"ProofDate", "a@example.com,Ann,2024-05-17,form,v1", "", true},
		{"ProofRFC3339", "a@example.com,Ann,2024-05-17T09:30:00+02:00,form,v1", "", true},
		{"ProofNoVersion", "a@example.com,Ann,2024-05-17,form,", "", true}, // the import's text may fill it
		{"ErrEmail", "nobody,Ann,,,", "email:", false},
		{"ErrEmptyEmail", ",Ann,,,", "email:", false},
		{"ErrNameLong", "a@example.com," + strings.Repeat("é", 201) + ",,,", "name: longer", false},
		{"ErrNameControl", "a@example.com,A\x01nn,,,", "name: contains", false},
		{"ErrNoSource", "a@example.com,Ann,2024-05-17,,v1", "incomplete proof", false},
		{"ErrNoDate", "a@example.com,Ann,,form,v1", "incomplete proof", false},
		{"ErrOnlyVersion", "a@example.com,Ann,,,v1", "incomplete proof", false},
		{"ErrDate", "a@example.com,Ann,17/05/2024,form,v1", "not a date", false},
		{"ErrFuture", "a@example.com,Ann,2027-01-01,form,v1", "in the future", false},
		{"ErrAncient", "a@example.com,Ann,1970-01-01,form,v1", "before 1990", false},
		{"ErrSourceLong", "a@example.com,Ann,2024-05-17," + strings.Repeat("s", 101) + ",v1", "consent_source: longer", false},
		{"ErrFields", "a@example.com,Ann", "2 fields where the header has 5", false},
		{"ErrQuote", "a@example.com,An\"n,,,", "not valid CSV", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, bad, err := readAll(t, hdr+c.row+"\nlast@example.com,,,,\n")
			if err != nil {
				t.Fatal(err)
			}
			if c.bad != "" {
				if len(bad) != 1 || bad[0].Line != 2 || !strings.Contains(bad[0].Reason, c.bad) {
					t.Fatalf("bad %+v, want line 2 %q", bad, c.bad)
				}
				if len(rows) != 1 || rows[0].Line != 3 {
					t.Fatalf("the next row is lost: %+v", rows)
				}
				return
			}
			if len(bad) != 0 || len(rows) != 2 || (rows[0].ConsentedAt != nil) != c.proof {
				t.Fatalf("%+v %+v", rows, bad)
			}
		})
	}
}

// FuzzImportRow: whatever the file, reading never panics, every row it
// accepts is valid (normalized address, name within limits, proof complete
// and not in the future), and line numbers only grow.
func FuzzImportRow(f *testing.F) {
	f.Add("email,name,consented_at,consent_source,consent_text_version\na@example.com,Ann,2024-05-17,form,v1\n")
	f.Add("email\n\"a@example.com\nb\"\n,,,\n")
	f.Add("name,email\nAnn,ann@exämple.com\n\"x,y\",b@example.com\n")
	f.Add("email,consented_at,consent_source\nx@example.com,2024-05-17T09:30:00Z,shop\nsecret-value\n")
	f.Fuzz(func(t *testing.T, file string) {
		r, err := NewReader(strings.NewReader(file), now)
		if err != nil {
			if _, ok := apperr.As(err); !ok {
				t.Fatalf("header error is not an apperr: %v", err)
			}
			return
		}
		last := int64(0)
		for i := 0; i < 10000; i++ {
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var le *LineError
			if errors.As(err, &le) {
				if le.Line < 1 {
					t.Fatalf("line %d", le.Line)
				}
				continue
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if row.Line <= last {
				t.Fatalf("line %d after %d", row.Line, last)
			}
			last = row.Line
			if n, err := address.Normalize(row.Email); err != nil || n != row.Email {
				t.Fatalf("accepted %q (%v)", row.Email, err)
			}
			if utf8.RuneCountInString(row.Name) > MaxNameLength || !utf8.ValidString(row.Name) {
				t.Fatalf("accepted name %q", row.Name)
			}
			if row.ConsentedAt != nil && (row.ConsentedAt.After(now) || row.Source == "") {
				t.Fatalf("accepted proof %+v", row)
			}
			if row.ConsentedAt == nil && (row.Source != "" || row.Version != "") {
				t.Fatalf("half a proof kept: %+v", row)
			}
		}
	})
}
