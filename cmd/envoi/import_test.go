package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/model"
)

// importFile is a file of every kind of row, with what each line must give.
var importFile = "email,name,consented_at,consent_source,consent_text_version\n" + // line 1
	"proof-a@example.com,Ann,2024-05-17,shop form,v-shop\n" + // 2: confirmed with proof
	"proof-b@example.com,Bea,2024-05-18T09:30:00+02:00,fair stand,v-shop\n" + // 3: confirmed with proof
	"ask@example.com,Cid,,,\n" + // 4: no proof: asked to confirm
	"not-an-address,Dan,,,\n" + // 5: bad email
	"PROOF-A@example.com,Ann again,,,\n" + // 6: duplicate of line 2
	"future@example.com,Eve,2999-01-01,shop,v-shop\n" + // 7: date in the future
	"nodate@example.com,Fay,,shop,v-shop\n" + // 8: incomplete proof
	"badver@example.com,Gus,2024-01-01,shop,v-nope\n" + // 9: unknown text version
	"baddate@example.com,Hal,17/05/2024,shop,v-shop\n" + // 10: not a date
	"erased@example.com,Ivy,2024-01-01,shop,v-shop\n" + // 11: on the suppression list
	"complained@example.com,Jo,,,\n" + // 12: suppressed subscriber
	"was-confirmed-1@example.com,Kim,,,\n" + // 13: already confirmed
	"gone-1@example.com,Lou,,,\n" + // 14: unsubscribed, no proof: left so
	"gone-2@example.com,Max,2020-01-01,shop,v-shop\n" + // 15: unsubscribed after this old proof: left so
	"two,fields\n" + // 16: wrong field count
	"longname@example.com," + strings.Repeat("n", 201) + ",,,\n" + // 17: name too long
	"ask2@example.com,,,,\n" // 18: no proof: asked to confirm

// wantErrors are the error lines of importFile, in order.
var wantErrors = []struct {
	line   int64
	reason string
}{
	{5, "email:"},
	{6, "duplicate of line 2"},
	{7, "in the future"},
	{8, "incomplete proof of consent"},
	{9, "no stored consent text has this version"},
	{10, "consented_at: not a date"},
	{16, "2 fields where the header has 5"},
	{17, "name: longer than 200"},
}

// seedImportTargets prepares the people importFile meets: a stored consent
// text, a suppressed address, a suppressed subscriber, a confirmed and two
// unsubscribed subscriptions.
func (ta *testApp) seedImportTargets() {
	ta.t.Helper()
	db := ta.Store.DB
	mustExec := func(q string, args ...any) {
		ta.t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			ta.t.Fatal(err)
		}
	}
	mustExec(`INSERT INTO consent_texts (version, body) VALUES ('v-shop', 'Yes, send me the Weekly Letter.')`)
	mustExec(`INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'erased')`, ta.Store.Pseudo.Email("erased@example.com"))
	mustExec(`INSERT INTO subscribers (email, suppressed_at, suppressed_reason) VALUES ('complained@example.com', now(), 'complaint')`)
	ta.seed("newsletter", "was-confirmed", 1, "confirmed")
	ta.seed("newsletter", "gone", 2, "unsubscribed")
}

func (ta *testApp) envoi(args ...string) (int, string, string) {
	ta.t.Helper()
	var out, errb bytes.Buffer
	code := runIO(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return ta.Env[k] })
	return code, out.String(), errb.String()
}

// checkImportOutcome checks what importFile did, however it was imported.
func (ta *testApp) checkImportOutcome(t *testing.T, im model.Import, errs []model.ImportError) {
	t.Helper()
	want := model.Import{RowsRead: 17, BadRows: 7, Duplicates: 1, Suppressed: 2, ConfirmedWithProof: 2, AwaitingConfirmation: 2,
		RepermissionQueued: 2, AlreadyConfirmed: 1, KeptUnsubscribed: 2}
	got := model.Import{RowsRead: im.RowsRead, BadRows: im.BadRows, Duplicates: im.Duplicates, Suppressed: im.Suppressed,
		ConfirmedWithProof: im.ConfirmedWithProof, AwaitingConfirmation: im.AwaitingConfirmation, RepermissionQueued: im.RepermissionQueued,
		AlreadyConfirmed: im.AlreadyConfirmed, KeptUnsubscribed: im.KeptUnsubscribed}
	if got != want || im.State != model.ImportDone {
		t.Fatalf("import %s:\n got %+v\nwant %+v", im.State, got, want)
	}
	if sum := im.BadRows + im.Duplicates + im.Suppressed + im.Imported() + im.AlreadyConfirmed + im.KeptUnsubscribed; sum != im.RowsRead {
		t.Errorf("counts add up to %d, not the %d rows read", sum, im.RowsRead)
	}
	if len(errs) != len(wantErrors) {
		t.Fatalf("%d error lines, want %d: %+v", len(errs), len(wantErrors), errs)
	}
	for i, w := range wantErrors {
		if errs[i].Line != w.line || !strings.Contains(errs[i].Reason, w.reason) {
			t.Errorf("error %d: line %d %q, want line %d with %q", i, errs[i].Line, errs[i].Reason, w.line, w.reason)
		}
		for _, v := range []string{"not-an-address", "PROOF-A", "2999", "v-nope", "17/05/2024", "nnnnn", "two"} {
			if strings.Contains(errs[i].Reason, v) {
				t.Errorf("line %d: the reason shows the value: %q", errs[i].Line, errs[i].Reason)
			}
		}
	}
	for email, status := range map[string]string{"proof-a@example.com": "confirmed", "proof-b@example.com": "confirmed",
		"ask@example.com": "unconfirmed", "ask2@example.com": "unconfirmed", "was-confirmed-1@example.com": "confirmed",
		"gone-1@example.com": "unsubscribed", "gone-2@example.com": "unsubscribed", "erased@example.com": "none",
		"future@example.com": "none", "not-an-address": "none"} {
		if got := ta.status(email); got != status {
			t.Errorf("%s: %s, want %s", email, got, status)
		}
	}
	if n := ta.count(`SELECT count(*) FROM subscriptions sn JOIN subscribers sr ON sr.id = sn.subscriber_id WHERE sr.email = 'complained@example.com'`); n != 0 {
		t.Errorf("a suppressed subscriber got %d subscriptions", n)
	}
	if n := ta.count(`SELECT count(*) FROM import_rows`); n != 0 {
		t.Errorf("%d staging rows left (they hold addresses)", n)
	}
	// Proof: confirmed as of the consent date, one import event naming the text version.
	var confirmedAt time.Time
	if err := ta.Store.DB.Get(&confirmedAt, `SELECT sn.confirmed_at FROM subscriptions sn JOIN subscribers sr ON sr.id = sn.subscriber_id
WHERE sr.email = 'proof-b@example.com'`); err != nil || !confirmedAt.Equal(time.Date(2024, 5, 18, 7, 30, 0, 0, time.UTC)) {
		t.Errorf("proof-b confirmed at %v (%v), want the consent date", confirmedAt, err)
	}
	var ev struct {
		Version string `db:"consent_text_version"`
		Detail  string `db:"detail"`
		Source  string `db:"source"`
	}
	if err := ta.Store.DB.Get(&ev, `SELECT cl.consent_text_version, cl.detail, cl.source FROM consent_log cl JOIN subscribers sr ON sr.id = cl.subscriber_id
WHERE sr.email = 'proof-a@example.com' AND cl.action = 'import'`); err != nil {
		t.Fatal(err)
	}
	if ev.Version != "v-shop" || ev.Source != "import" || !strings.Contains(ev.Detail, "source=shop form; consented_at=2024-05-17T00:00:00Z") {
		t.Errorf("proof event: %+v", ev)
	}
	if got := ta.consentActions("ask@example.com"); got != "import/import" {
		t.Errorf("ask@ consent events: %s", got)
	}
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE action = 'import'`); n != 4 {
		t.Errorf("%d import consent events, want 4 (one per row written)", n)
	}
	// The chain holds: each event's hash is consent_digest's and links to the previous one.
	if n := ta.count(`SELECT count(*) FROM (SELECT hash, prev_hash, lag(hash) OVER (ORDER BY seq) AS before,
    consent_digest(prev_hash, seq, id, subscriber_id, list_id, list_slug, action, source, consent_text_version, created_at,
                   email_hash, ip_hash, ua_hash, detail) AS digest FROM consent_log) c
WHERE hash <> digest OR (before IS NOT NULL AND prev_hash <> before)`); n != 0 {
		t.Errorf("%d consent events break the chain", n)
	}
	if n := ta.count(`SELECT count(*) FROM consent_chain WHERE seq = (SELECT max(seq) FROM consent_log) AND hash = (SELECT hash FROM consent_log ORDER BY seq DESC LIMIT 1)`); n != 1 {
		t.Error("the chain's head is not its last event")
	}
}

// TestImportCLI (GDPR toolkit): envoi import of a file with every kind of
// row: exact counts and error lines; proof confirms with the version in the
// consent log; the others get a confirmation mail and stay unconfirmed until
// they confirm.
func TestImportCLI(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.seedImportTargets()
	file := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(file, []byte(importFile), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ta.envoi("import", "--list", "newsletter", file)
	if code != 0 {
		t.Fatalf("envoi import: %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range []string{"rows read: 17", "confirmed with proof of consent: 2", "asked to confirm: 2 (confirmation mails queued: 2)",
		"skipped as suppressed: 2", "bad rows: 7", "duplicates: 1", "line 6: duplicate of line 2", "line 16: 2 fields where the header has 5"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	var id int64
	ta.Store.DB.Get(&id, `SELECT id FROM imports`)
	st, err := ta.Imports.Import(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ta.checkImportOutcome(t, st.Import, st.Errors)

	t.Run("RepermissionMail", func(t *testing.T) {
		msgs := ta.waitMail("ask@example.com", 1)
		ta.waitMessagesDone(15 * time.Second)
		for _, addr := range []string{"proof-a@example.com", "was-confirmed-1@example.com", "gone-1@example.com", "erased@example.com", "complained@example.com"} {
			if n := len(ta.SMTP.To(addr)); n != 0 {
				t.Errorf("%s got %d mails", addr, n)
			}
		}
		if ta.status("ask@example.com") != "unconfirmed" {
			t.Fatal("confirmed before the link was used")
		}
		u := link(t, msgs[0], "confirm")
		if r := ta.postForm(strings.TrimPrefix(u, ta.Config.BaseURL), nil); r.Status != 200 {
			t.Fatalf("confirm: %d %s", r.Status, r.Body)
		}
		if ta.status("ask@example.com") != "confirmed" || ta.consentActions("ask@example.com") != "import/import,confirm/link" {
			t.Fatalf("after the link: %s, %s", ta.status("ask@example.com"), ta.consentActions("ask@example.com"))
		}
	})
	t.Run("AgainChangesNothing", func(t *testing.T) {
		code, out, errOut := ta.envoi("import", "--list", "newsletter", file)
		if code != 0 {
			t.Fatalf("envoi import: %d\n%s\n%s", code, out, errOut)
		}
		// The proof rows and the confirmed one are confirmed now; ask2 had its mail
		// less than 15 minutes ago, so it gets none.
		for _, w := range []string{"already confirmed: 4", "asked to confirm: 1 (confirmation mails queued: 0)"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{{"import"}, {"import", "--list", "newsletter"}, {"import", file}} {
			if code, _, _ := ta.envoi(args...); code != 2 {
				t.Errorf("%v: exit %d, want 2", args, code)
			}
		}
		if code, _, errOut := ta.envoi("import", "--list", "nope", file); code != 1 || !strings.Contains(errOut, "no list") {
			t.Errorf("unknown list: %d %s", code, errOut)
		}
		bad := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(bad, []byte("mail,name\nx@example.com,X\n"), 0o600)
		if code, _, errOut := ta.envoi("import", "--list", "newsletter", bad); code != 1 || !strings.Contains(errOut, "not one Envoi knows") {
			t.Errorf("bad header: %d %s", code, errOut)
		}
	})
}

// TestImportConsentText: rows with a date and source but no version take the
// consent text the import carries, saved as a version of its own.
func TestImportConsentText(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true})
	dir := t.TempDir()
	file, text := filepath.Join(dir, "p.csv"), filepath.Join(dir, "text.txt")
	os.WriteFile(file, []byte("email,consented_at,consent_source\nann@example.com,2023-03-01,paper form\nbob@example.com,2023-03-02,paper form\n"), 0o600)
	os.WriteFile(text, []byte("I want the Weekly Letter."), 0o600)
	if code, out, _ := ta.envoi("import", "--list", "newsletter", file); code != 0 || !strings.Contains(out, "bad rows: 2") {
		t.Fatalf("without a text: %d\n%s", code, out)
	}
	code, out, errOut := ta.envoi("import", "--list", "newsletter", "--consent-text-file", text, file)
	if code != 0 || !strings.Contains(out, "confirmed with proof of consent: 2") {
		t.Fatalf("with a text: %d\n%s%s", code, out, errOut)
	}
	var body string
	if err := ta.Store.DB.Get(&body, `SELECT t.body FROM consent_log cl JOIN consent_texts t ON t.version = cl.consent_text_version
JOIN subscribers sr ON sr.id = cl.subscriber_id WHERE sr.email = 'bob@example.com'`); err != nil || body != "I want the Weekly Letter." {
		t.Fatalf("text of bob's proof: %q %v", body, err)
	}
}

// waitImport polls the API until the import has finished.
func (ta *testApp) waitImport(key string, id int64) map[string]any {
	ta.t.Helper()
	var m map[string]any
	ta.waitFor(20*time.Second, func() error {
		var st int
		st, m = ta.api("GET", "/api/v1/imports/"+strconv.FormatInt(id, 10), key, "")
		if st != 200 {
			return fmt.Errorf("status %d", st)
		}
		if s := m["state"]; s != model.ImportDone && s != model.ImportFailed {
			return fmt.Errorf("import %v", s)
		}
		return nil
	})
	return m
}

// TestImportAPI: POST /api/v1/imports (a text/csv body, or a multipart
// form) answers 202 once the file is staged; a worker imports it; GET
// /api/v1/imports/{id} follows it to the end.
func TestImportAPI(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.seedImportTargets()
	key := ta.apiKey()

	res := ta.do("POST", "/api/v1/imports?list=newsletter", "text/csv", importFile, "Authorization", "Bearer "+key)
	if res.Status != 202 || !strings.HasPrefix(res.Header.Get("Location"), "/api/v1/imports/") {
		t.Fatalf("POST: %d %s", res.Status, res.Body)
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(res.Header.Get("Location"), "/api/v1/imports/"), 10, 64)
	m := ta.waitImport(key, id)
	st, err := ta.Imports.Import(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ta.checkImportOutcome(t, st.Import, st.Errors)
	if errs, _ := m["errors"].([]any); len(errs) != len(wantErrors) || m["confirmed_with_proof"] != 2.0 {
		t.Errorf("GET: %v", m)
	}
	ta.waitMail("ask@example.com", 1)

	t.Run("Multipart", func(t *testing.T) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("list", "newsletter")
		w.WriteField("consent_text", "Send me the letter, please.")
		f, _ := w.CreateFormFile("file", "more.csv")
		f.Write([]byte("email,name,consented_at,consent_source\nmulti@example.com,M,2025-01-02,stand\n"))
		w.Close()
		res := ta.do("POST", "/api/v1/imports", w.FormDataContentType(), b.String(), "Authorization", "Bearer "+key)
		if res.Status != 202 {
			t.Fatalf("POST multipart: %d %s", res.Status, res.Body)
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(res.Header.Get("Location"), "/api/v1/imports/"), 10, 64)
		if m := ta.waitImport(key, id); m["confirmed_with_proof"] != 1.0 || m["state"] != "done" {
			t.Fatalf("multipart import: %v", m)
		}
		if st, m := ta.api("GET", "/api/v1/imports", key, ""); st != 200 || len(m["items"].([]any)) != 2 {
			t.Fatalf("GET /imports: %d %v", st, m)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, c := range []struct {
			name, path, ct, body string
			status               int
			field                string
		}{
			{"ErrUnknownList", "/api/v1/imports?list=nope", "text/csv", "email\na@example.com\n", 422, "list"},
			{"ErrNoList", "/api/v1/imports", "text/csv", "email\na@example.com\n", 422, "list"},
			{"ErrHeader", "/api/v1/imports?list=newsletter", "text/csv", "name\nAnn\n", 422, "file"},
			{"ErrEmpty", "/api/v1/imports?list=newsletter", "text/csv", "", 422, "file"},
			{"ErrType", "/api/v1/imports?list=newsletter", "application/json", `{"email":"a@example.com"}`, 415, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := ta.do("POST", c.path, c.ct, c.body, "Authorization", "Bearer "+key)
				if res.Status != c.status || !strings.Contains(res.Body, `"field":"`+c.field) && c.field != "" {
					t.Fatalf("%d %s", res.Status, res.Body)
				}
			})
		}
		if st, _ := ta.api("GET", "/api/v1/imports/999999", key, ""); st != 404 {
			t.Errorf("unknown import: %d", st)
		}
	})
	t.Run("ErrReadKey", func(t *testing.T) {
		var out, errb bytes.Buffer
		run(context.Background(), []string{"apikey", "create", "--name", "ro", "--scope", "read"}, &out, &errb, func(k string) string { return ta.Env[k] })
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		ro := lines[len(lines)-1]
		if res := ta.do("POST", "/api/v1/imports?list=newsletter", "text/csv", importFile, "Authorization", "Bearer "+ro); res.Status != 403 {
			t.Fatalf("read key: %d", res.Status)
		}
		if st, _ := ta.api("GET", "/api/v1/imports", ro, ""); st != 200 {
			t.Fatalf("read key GET: %d", st)
		}
	})
}

// multipartPost sends the admin's upload form.
func (a *adminClient) multipartPost(path string, fields map[string]string, file string) response {
	a.ta.t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, k := range []string{"list", "consent_text"} {
		if v, ok := fields[k]; ok {
			w.WriteField(k, v)
		}
	}
	f, _ := w.CreateFormFile("file", "people.csv")
	f.Write([]byte(file))
	w.Close()
	req, _ := http.NewRequest("POST", a.ta.URL()+path, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := a.c.Do(req)
	if err != nil {
		a.ta.t.Fatal(err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	return response{res.StatusCode, body.String(), res.Header}
}

// TestImportAdmin: an editor uploads a file on /admin/imports, lands on the
// import's page, whose progress fragment (htmx) follows it to the end; a
// viewer can look but not upload; the audit log records the start.
func TestImportAdmin(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.seedImportTargets()
	editor, viewer := ta.signedIn(model.RoleEditor), ta.signedIn(model.RoleViewer)

	if r := viewer.get("/admin/imports"); r.Status != 200 || strings.Contains(r.Body, `id="start-import"`) {
		t.Fatalf("viewer's imports page: %d (form shown: %v)", r.Status, strings.Contains(r.Body, `id="start-import"`))
	}
	if r := viewer.multipartPost("/admin/imports", map[string]string{"list": "newsletter"}, importFile); r.Status != 403 {
		t.Fatalf("viewer upload: %d", r.Status)
	}
	if r := editor.get("/admin/imports"); r.Status != 200 || !strings.Contains(r.Body, `id="start-import"`) {
		t.Fatalf("editor's imports page: %d", r.Status)
	}
	r := editor.multipartPost("/admin/imports", map[string]string{"list": "newsletter"}, importFile)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/admin/imports/") {
		t.Fatalf("upload: %d %s\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	page := r.Header.Get("Location")
	ta.waitFor(20*time.Second, func() error {
		f := viewer.do("GET", page+"/progress", nil, "HX-Request", "true")
		if f.Status != 200 || strings.Contains(f.Body, "<html") {
			return fmt.Errorf("fragment: %d", f.Status)
		}
		if !strings.Contains(f.Body, `id="import-state">done<`) {
			return errors.New("not done yet")
		}
		if strings.Contains(f.Body, "hx-trigger") {
			return errors.New("a finished import still polls")
		}
		return nil
	})
	p := viewer.get(page)
	for _, w := range []string{`id="import-proof">2<`, `id="import-suppressed">2<`, `id="import-bad">7<`, "duplicate of line 2", "<td>16</td>"} {
		if !strings.Contains(p.Body, w) {
			t.Errorf("import page lacks %q", w)
		}
	}
	if n := ta.count(`SELECT count(*) FROM audit_log WHERE action = 'import.start' AND target LIKE 'import=% list=newsletter rows=17'`); n != 1 {
		t.Errorf("%d audit entries for the import", n)
	}
	t.Run("ErrNoFile", func(t *testing.T) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("list", "newsletter")
		w.Close()
		req, _ := http.NewRequest("POST", ta.URL()+"/admin/imports", &b)
		req.Header.Set("Content-Type", w.FormDataContentType())
		res, err := editor.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 422 {
			t.Fatalf("no file: %d", res.StatusCode)
		}
	})
}

// TestImportResume: an import interrupted after some chunks (as by a crash:
// the chunk in flight rolls back) goes on from the last committed chunk, each
// row imported once.
func TestImportResume(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true})
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("email,name,consented_at,consent_source,consent_text_version\n")
	const n = 50
	for i := 1; i <= n; i++ {
		if i%5 == 0 {
			fmt.Fprintf(&b, "later-%d@example.com,,,,\n", i) // no proof: a confirmation mail each
		} else {
			fmt.Fprintf(&b, "resume-%d@example.com,R %d,2024-02-03,shop,v-shop\n", i, i)
		}
	}
	ta.Store.DB.MustExec(`INSERT INTO consent_texts (version, body) VALUES ('v-shop', 'Yes.')`)
	svc := *ta.Imports
	svc.ChunkSize, svc.Workers = 7, 1
	im, err := svc.Stage(ctx, imports.Request{List: "newsletter", Source: imports.SourceCLI}, strings.NewReader(b.String()))
	if err != nil || im.Staged != n {
		t.Fatalf("stage: %+v %v", im, err)
	}
	crash := errors.New("crash")
	chunks := 0
	svc.BeforeChunk = func(ctx context.Context, id int64) error {
		if chunks++; chunks == 4 {
			return crash
		}
		return nil
	}
	if _, err := svc.Run(ctx, im.ID, nil); !errors.Is(err, crash) {
		t.Fatalf("run: %v", err)
	}
	mid, _ := svc.Import(ctx, im.ID)
	if mid.State != model.ImportRunning || mid.Processed != 21 || ta.count(`SELECT count(*) FROM import_rows`) != n-21 {
		t.Fatalf("after 3 chunks: %s, %d processed, %d staged left", mid.State, mid.Processed, ta.count(`SELECT count(*) FROM import_rows`))
	}
	svc.BeforeChunk, svc.Workers = nil, 3 // the rest three chunks at a time
	done, err := svc.Run(ctx, im.ID, nil)
	if err != nil || done.State != model.ImportDone {
		t.Fatalf("resume: %+v %v", done, err)
	}
	if done.ConfirmedWithProof != 40 || done.AwaitingConfirmation != 10 || done.RepermissionQueued != 10 || done.Processed != n {
		t.Fatalf("after resuming: %+v", done)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM subscriptions`:                                            n,
		`SELECT count(DISTINCT subscriber_id) FROM consent_log WHERE action = 'import'`: n,
		`SELECT count(*) FROM consent_log WHERE action = 'import'`:                      n,
		`SELECT count(*) FROM transactional_messages WHERE kind = 'confirm'`:            10,
		`SELECT count(*) FROM import_rows`:                                              0,
	} {
		if got := ta.count(q); got != want {
			t.Errorf("%s: %d, want %d", q, got, want)
		}
	}
	// Run again on a finished import (here through the CLI): nothing more.
	code, out, errOut := ta.envoi("import", "--resume", strconv.FormatInt(im.ID, 10))
	if code != 0 || !strings.Contains(out, ": done") || !strings.Contains(out, "confirmed with proof of consent: 40") || ta.count(`SELECT count(*) FROM consent_log`) != n {
		t.Fatalf("resume after done: %d\n%s%s", code, out, errOut)
	}
}

// TestImportSweep: an import whose task was lost (Redis emptied, a worker
// killed before it took it) is queued again by the sweeper and a worker
// finishes it; an upload that broke off with its process is marked failed.
func TestImportSweep(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ctx := context.Background()
	svc := *ta.Imports
	svc.Queue = nil // staged, never queued: as if the task was lost
	im, err := svc.Stage(ctx, imports.Request{List: "newsletter", Source: imports.SourceAPI},
		strings.NewReader("email\nlost-1@example.com\nlost-2@example.com\n"))
	if err != nil || im.State != model.ImportQueued {
		t.Fatalf("stage: %+v %v", im, err)
	}
	ta.Store.DB.MustExec(`INSERT INTO imports (list_id, list_slug, source, created_at, updated_at)
SELECT id, slug, 'api', now() - interval '1 hour', now() - interval '1 hour' FROM lists WHERE slug = 'newsletter'`)
	ta.Store.DB.MustExec(`UPDATE imports SET updated_at = now() - interval '10 minutes'`)
	if n, err := ta.Imports.Sweep(ctx, 2*time.Minute); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	ta.waitFor(20*time.Second, func() error {
		st, err := ta.Imports.Import(ctx, im.ID)
		if err != nil || st.State != model.ImportDone || st.AwaitingConfirmation != 2 {
			return fmt.Errorf("import %+v %v", st.Import, err)
		}
		return nil
	})
	if n := ta.count(`SELECT count(*) FROM imports WHERE state = 'failed' AND error LIKE 'The upload%'`); n != 1 {
		t.Errorf("%d abandoned uploads marked failed", n)
	}
	ta.waitMail("lost-2@example.com", 1)
}
