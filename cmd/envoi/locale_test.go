package main

import (
	"net/url"
	"strings"
	"testing"
)

// TestListLanguage (issue 10): a list in French gets its signup form, its
// pages, its form errors, its consent text and its confirmation and welcome
// mails in French; a language without a file is refused naming the field; an
// error page follows the browser's Accept-Language.
func TestListLanguage(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, `{"language":"xx"}`); st != 422 || m["field"] != "language" {
		t.Fatalf("unknown language: %d %v", st, m)
	}
	if st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, `{"language":"fr"}`); st != 200 || m["language"] != "fr" {
		t.Fatalf("patch: %d %v", st, m)
	}
	form := ta.get("/subscribe/newsletter")
	for _, want := range []string{`<html lang="fr">`, "S’abonner à The Weekly Letter", "Adresse e-mail", "Information sur vos données",
		"J’accepte de recevoir « The Weekly Letter »"} {
		if !strings.Contains(form.Body, want) {
			t.Fatalf("the French form lacks %q:\n%s", want, form.Body)
		}
	}
	bad := ta.postForm("/subscribe/newsletter", url.Values{"email": {"nope"}})
	if bad.Status != 422 || !strings.Contains(bad.Body, "Cochez la case") || !strings.Contains(bad.Body, "Une adresse e-mail a un @") {
		t.Fatalf("French form errors: %d\n%s", bad.Status, bad.Body)
	}
	if r := ta.signup("marie@example.com"); r.Status != 200 || !strings.Contains(r.Body, "Vérifiez votre boîte de réception") {
		t.Fatalf("check inbox: %d\n%s", r.Status, r.Body)
	}
	var text string
	ta.Store.DB.Get(&text, `SELECT t.body FROM consent_log c JOIN consent_texts t ON t.version = c.consent_text_version`)
	if !strings.HasPrefix(text, "J’accepte de recevoir") {
		t.Fatalf("the consent recorded is not the French text shown: %q", text)
	}
	m := ta.waitMail("marie@example.com", 1)[0]
	if m.Subject() != "Confirmez votre abonnement à The Weekly Letter" || !strings.Contains(m.Part("text/plain"), "Pour confirmer, ouvrez ce lien") ||
		!strings.Contains(m.Part("text/html"), `<html lang="fr">`) {
		t.Fatalf("confirmation mail: %q\n%s", m.Subject(), m.Part("text/plain"))
	}
	confirmURL := link(t, m, "confirm")
	if page := ta.get(confirmURL); !strings.Contains(page.Body, "Confirmer mon abonnement") {
		t.Fatalf("confirm page:\n%s", page.Body)
	}
	if r := ta.do("POST", confirmURL, "", ""); !strings.Contains(r.Body, "Merci, vous êtes abonné") {
		t.Fatalf("confirmed page:\n%s", r.Body)
	}
	w := ta.waitMail("marie@example.com", 2)[1]
	if w.Subject() != "Bienvenue dans The Weekly Letter" || !strings.Contains(w.Part("text/plain"), "Se désabonner en un clic") {
		t.Fatalf("welcome mail: %q\n%s", w.Subject(), w.Part("text/plain"))
	}
	unsub := link(t, w, "unsubscribe")
	if page := ta.get(unsub); !strings.Contains(page.Body, "Me désabonner") {
		t.Fatalf("unsubscribe page:\n%s", page.Body)
	}
	if r := ta.do("GET", "/subscribe/nothing-here", "", "", "Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5"); r.Status != 404 || !strings.Contains(r.Body, "Page introuvable") {
		t.Fatalf("French error page: %d\n%s", r.Status, r.Body)
	}
	if r := ta.get("/subscribe/nothing-here"); !strings.Contains(r.Body, "Page not found") {
		t.Fatalf("English error page:\n%s", r.Body)
	}
}
