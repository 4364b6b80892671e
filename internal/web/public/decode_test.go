package public

import (
	"bytes"
	"mime/multipart"
	"reflect"
	"strings"
	"testing"

	"github.com/envoi/envoi/internal/apperr"
)

func TestDecodeSignup(t *testing.T) {
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("email", "m@example.com")
	w.WriteField("consent", "on")
	w.Close()
	tests := []struct {
		name, ct, body string
		want           signupForm
		code           string
	}{
		{"Urlencoded", "application/x-www-form-urlencoded", "email=a%40example.com&name=Ann&consent=yes", signupForm{Email: "a@example.com", Name: "Ann", Consent: true}, ""},
		{"NoContentType", "", "email=a%40example.com", signupForm{Email: "a@example.com"}, ""},
		{"Multipart", w.FormDataContentType(), mp.String(), signupForm{Email: "m@example.com", Consent: true}, ""},
		{"JSON", "application/json; charset=utf-8", `{"email":"j@example.com","name":"J","consent":true}`, signupForm{Email: "j@example.com", Name: "J", Consent: true, JSON: true}, ""},
		{"JSONConsentString", "application/json", `{"email":"j@example.com","consent":"yes"}`, signupForm{Email: "j@example.com", Consent: true, JSON: true}, ""},
		{"Honeypot", "application/x-www-form-urlencoded", "email=a%40example.com&consent=yes&website=http%3A%2F%2Fspam", signupForm{Email: "a@example.com", Consent: true, Trap: true}, ""},
		{"ConsentOffByDefault", "application/x-www-form-urlencoded", "email=a%40example.com&consent=no", signupForm{Email: "a@example.com"}, ""},
		{"FormFields", "application/x-www-form-urlencoded", "email=a%40example.com&field.company=Acme&field.city=Lyon", signupForm{Email: "a@example.com", Fields: map[string]string{"company": "Acme", "city": "Lyon"}}, ""},
		{"JSONFields", "application/json", `{"email":"j@example.com","fields":{"company":"Acme"}}`, signupForm{Email: "j@example.com", JSON: true, Fields: map[string]string{"company": "Acme"}}, ""},
		{"ErrJSONFieldNotText", "application/json", `{"email":"j@example.com","fields":{"company":1}}`, signupForm{JSON: true}, apperr.BadRequest},
		{"ErrJSON", "application/json", `{"email":`, signupForm{JSON: true}, apperr.BadRequest},
		{"ErrJSONWrongType", "application/json", `{"email":42}`, signupForm{JSON: true}, apperr.BadRequest},
		{"ErrTooLarge", "application/x-www-form-urlencoded", "name=" + strings.Repeat("x", MaxFormBytes), signupForm{}, "too_large"},
		{"ErrMediaType", "text/plain", "email=x", signupForm{}, "unsupported_media"},
		{"ErrBadMultipart", "multipart/form-data; boundary=zzz", "--nope", signupForm{}, apperr.BadRequest},
		{"ErrBadEscape", "application/x-www-form-urlencoded", "email=%zz", signupForm{}, apperr.BadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSignup(tt.ct, strings.NewReader(tt.body))
			if code := apperr.ErrorCode(err); code != tt.code {
				t.Fatalf("code = %q (%v), want %q", code, err, tt.code)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzDecodeSignup: no body or content type panics, every error is a coded
// apperr (never an internal error), and fields stay within the body's size.
func FuzzDecodeSignup(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "email=a%40example.com&consent=yes")
	f.Add("application/json", `{"email":"a@example.com","consent":true}`)
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.c\r\n--X--\r\n")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, ct, body string) {
		got, err := decodeSignup(ct, strings.NewReader(body))
		if err != nil {
			if code := apperr.ErrorCode(err); code == apperr.Internal {
				t.Fatalf("uncoded error %v for %q %q", err, ct, body)
			}
			return
		}
		n := len(got.Email) + len(got.Name)
		for k, v := range got.Fields {
			n += len(k) + len(v)
		}
		if n > len(body)+16 {
			t.Fatalf("decoded more than was sent: %+v from %q", got, body)
		}
	})
}
