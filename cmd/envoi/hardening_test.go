package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestStrangersCannotWriteMail (issue 9, section 2): a name typed with an
// anonymous signup never reaches mail sent to someone else, and never changes
// a subscriber; it is applied only when the address's owner POSTs the signed
// confirmation link.
func TestStrangersCannotWriteMail(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	const lure = "Your account is locked. Reset it at https://evil.example/reset"
	signup := func(email, name string) {
		t.Helper()
		if res := ta.postForm("/subscribe/newsletter", url.Values{"email": {email}, "name": {name}, "consent": {"yes"}}); res.Status != 200 {
			t.Fatalf("signup %s: %d %s", email, res.Status, res.Body)
		}
	}
	name := func(email string) string {
		t.Helper()
		var n string
		if err := ta.Store.DB.Get(&n, `SELECT name FROM subscribers WHERE email = $1`, email); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("ConfirmationCarriesNoTypedText", func(t *testing.T) {
		signup("victim@example.com", lure)
		m := ta.waitMail("victim@example.com", 1)[0]
		for _, where := range []string{m.Header("To"), m.Subject(), m.Part("text/plain"), m.Part("text/html"), string(m.Raw)} {
			if strings.Contains(where, "evil.example") || strings.Contains(where, "locked") {
				t.Fatalf("the typed name reached the confirmation mail:\n%s", where)
			}
		}
		if n := name("victim@example.com"); n != "" {
			t.Fatalf("an unconfirmed signup wrote the name %q", n)
		}
	})
	t.Run("ConfirmedSubscriberUnchanged", func(t *testing.T) {
		ta.seed("newsletter", "known", 1, "confirmed")
		if _, err := ta.Store.DB.Exec(`UPDATE subscribers SET name = '' WHERE email = 'known-1@example.com'`); err != nil {
			t.Fatal(err)
		}
		signup("known-1@example.com", lure)
		ta.waitMessagesDone(10 * time.Second)
		if n := name("known-1@example.com"); n != "" {
			t.Fatalf("an anonymous signup filled in a confirmed subscriber's name: %q", n)
		}
		if n := len(ta.SMTP.To("known-1@example.com")); n != 0 {
			t.Fatalf("%d mails to a confirmed subscriber", n)
		}
	})
	t.Run("NameAppliedByTheConfirmation", func(t *testing.T) {
		signup("owner@example.com", "Olive Owner")
		m := ta.waitMail("owner@example.com", 1)[0]
		if strings.Contains(m.Part("text/plain"), "Olive") || strings.Contains(m.Header("To"), "Olive") {
			t.Fatal("the name is in the confirmation mail")
		}
		if n := name("owner@example.com"); n != "" {
			t.Fatalf("name before the confirmation: %q", n)
		}
		if res := ta.do("POST", link(t, m, "confirm"), "", ""); res.Status != 200 {
			t.Fatalf("confirm: %d", res.Status)
		}
		if n := name("owner@example.com"); n != "Olive Owner" {
			t.Fatalf("name after the confirmation: %q", n)
		}
		// The welcome, sent after the confirmation, may greet by name.
		if w := ta.waitMail("owner@example.com", 2)[1]; !strings.Contains(w.Part("text/plain"), "Olive Owner") {
			t.Fatalf("welcome: %s", w.Part("text/plain"))
		}
	})
}
