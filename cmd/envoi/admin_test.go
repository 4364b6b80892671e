package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/envoi/envoi/internal/model"
)

const testPassword = "Correct-Horse-42!"

// user creates an admin account with testPassword.
func (ta *testApp) user(email, role string) model.User {
	ta.t.Helper()
	u, err := ta.Users.CreateUser(context.Background(), email, role, testPassword)
	if err != nil {
		ta.t.Fatal(err)
	}
	return u
}

// adminClient is a browser-like client of the admin UI: a cookie jar, no
// redirects followed (tests look at them).
type adminClient struct {
	ta  *testApp
	c   *http.Client
	jar *cookiejar.Jar
}

func (ta *testApp) client() *adminClient {
	jar, _ := cookiejar.New(nil)
	return &adminClient{ta: ta, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (a *adminClient) do(method, path string, form url.Values, header ...string) response {
	a.ta.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, a.ta.URL()+path, body)
	if err != nil {
		a.ta.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := a.c.Do(req)
	if err != nil {
		a.ta.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, string(b), res.Header}
}

func (a *adminClient) get(path string) response { return a.do("GET", path, nil) }

func (a *adminClient) post(path string, form url.Values) response {
	if form == nil {
		form = url.Values{}
	}
	return a.do("POST", path, form)
}

// login signs in and fails the test unless it worked.
func (a *adminClient) login(email, password string) {
	a.ta.t.Helper()
	res := a.post("/admin/login", url.Values{"email": {email}, "password": {password}})
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/" {
		a.ta.t.Fatalf("login %s: %d %s\n%s", email, res.Status, res.Header.Get("Location"), res.Body)
	}
}

func (ta *testApp) signedIn(role string) *adminClient {
	ta.t.Helper()
	email := role + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@team.example"
	ta.user(email, role)
	a := ta.client()
	a.login(email, testPassword)
	return a
}

func isLoginRedirect(r response) bool {
	return r.Status == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/admin/login")
}

// TestAdminLogin (issue 10): sign-in with the form; wrong password and unknown
// account get the same answer; the cookie is HttpOnly, SameSite=Lax, scoped to
// /admin; logout ends the session; anonymous requests go to the login page
// and / leads to /admin/.
func TestAdminLogin(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.user("ann@team.example", model.RoleOwner)
	a := ta.client()

	if r := a.get("/"); r.Status != http.StatusFound || r.Header.Get("Location") != "/admin/" {
		t.Fatalf("/: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := a.get("/login"); r.Header.Get("Location") != "/admin/login" {
		t.Fatalf("/login: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := a.get("/admin/campaigns"); !isLoginRedirect(r) || !strings.Contains(r.Header.Get("Location"), "next=%2Fadmin%2Fcampaigns") {
		t.Fatalf("anonymous: %d %s", r.Status, r.Header.Get("Location"))
	}
	page := a.get("/admin/login")
	if page.Status != 200 || !strings.Contains(page.Body, `name="email"`) || !strings.Contains(page.Body, `name="password"`) {
		t.Fatalf("login page: %d", page.Status)
	}
	wrong := a.post("/admin/login", url.Values{"email": {"ann@team.example"}, "password": {"nope"}})
	unknown := a.post("/admin/login", url.Values{"email": {"nobody@team.example"}, "password": {"nope"}})
	if wrong.Status != 401 || unknown.Status != 401 || !strings.Contains(wrong.Body, "The address or the password is not right.") ||
		!strings.Contains(unknown.Body, "The address or the password is not right.") {
		t.Fatalf("wrong %d, unknown %d", wrong.Status, unknown.Status)
	}
	if strings.Contains(wrong.Body, "nope") {
		t.Fatal("a wrong password is echoed back")
	}
	res := a.post("/admin/login", url.Values{"email": {"Ann@Team.example"}, "password": {testPassword}, "next": {"/admin/lists"}})
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/lists" {
		t.Fatalf("login: %d %s", res.Status, res.Header.Get("Location"))
	}
	ck := res.Header.Get("Set-Cookie")
	for _, want := range []string{"envoi_session=", "Path=/admin", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(ck, want) {
			t.Fatalf("cookie %q lacks %s", ck, want)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Fatal("Secure cookie on an http base URL")
	}
	if off := a.post("/admin/login", url.Values{"email": {"ann@team.example"}, "password": {testPassword}, "next": {"https://evil.example/"}}); off.Header.Get("Location") != "/admin/" {
		t.Fatalf("open redirect: %s", off.Header.Get("Location"))
	}
	dash := a.get("/admin/")
	if dash.Status != 200 || !strings.Contains(dash.Body, "Dashboard") || !strings.Contains(dash.Body, "ann@team.example") {
		t.Fatalf("dashboard: %d", dash.Status)
	}
	if n := ta.count(`SELECT count(*) FROM audit_log WHERE action = 'login' AND user_email = 'ann@team.example' AND ip IS NOT NULL`); n != 2 {
		t.Fatalf("%d logins in the audit log, want 2", n)
	}
	if r := a.post("/admin/logout", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.Status)
	}
	if r := a.get("/admin/"); !isLoginRedirect(r) {
		t.Fatalf("after logout: %d", r.Status)
	}
	if n := ta.count(`SELECT count(*) FROM sessions`); n != 0 {
		t.Fatalf("%d sessions left after logout", n)
	}
}

// TestAdminLoginLimits (issue 10): failures are limited per account and per
// IP; over the limit even the right password gets 429 with Retry-After, and
// an unknown account is limited the same way (nothing tells them apart).
func TestAdminLoginLimits(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_LOGIN_LIMIT_PER_ACCOUNT": "3", "ENVOI_LOGIN_LIMIT_PER_IP": "8",
		"ENVOI_TRUSTED_PROXIES": "127.0.0.1/32"}})
	ta.user("bob@team.example", model.RoleEditor)
	a := ta.client()
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	for _, email := range []string{"bob@team.example", "ghost@team.example"} {
		for i := 0; i < 3; i++ {
			if r := a.do("POST", "/admin/login", url.Values{"email": {email}, "password": {"bad"}}, from("203.0.113.1")...); r.Status != 401 {
				t.Fatalf("%s failure %d: %d", email, i, r.Status)
			}
		}
		r := a.do("POST", "/admin/login", url.Values{"email": {email}, "password": {testPassword}}, from("203.0.113.2")...)
		if r.Status != 429 || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "Too many failed sign-ins") {
			t.Fatalf("%s after 3 failures: %d %q", email, r.Status, r.Header.Get("Retry-After"))
		}
	}
	// Per IP: eight failures over different accounts, then even a good one waits.
	ta.user("cy@team.example", model.RoleEditor)
	for i := 0; i < 2; i++ {
		a.do("POST", "/admin/login", url.Values{"email": {fmt.Sprintf("x%d@team.example", i)}, "password": {"bad"}}, from("203.0.113.1")...)
	}
	if r := a.do("POST", "/admin/login", url.Values{"email": {"cy@team.example"}, "password": {testPassword}}, from("203.0.113.1")...); r.Status != 429 {
		t.Fatalf("IP over its limit: %d", r.Status)
	}
	if r := a.do("POST", "/admin/login", url.Values{"email": {"cy@team.example"}, "password": {testPassword}}, from("198.51.100.7")...); r.Status != http.StatusSeeOther {
		t.Fatalf("another IP: %d", r.Status)
	}
}

// TestAdminSessionsEnd (issue 10; listmonk's CVE-2026-34828): every session of
// a user ends when their password, role or TOTP changes or they are removed;
// changing one's own password keeps the session that did it.
func TestAdminSessionsEnd(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ctx := context.Background()
	u := ta.user("dee@team.example", model.RoleEditor)
	ta.user("owner@team.example", model.RoleOwner)
	two := func() (*adminClient, *adminClient) {
		a, b := ta.client(), ta.client()
		a.login("dee@team.example", testPassword)
		b.login("dee@team.example", testPassword)
		return a, b
	}
	ended := func(what string, cs ...*adminClient) {
		t.Helper()
		for _, c := range cs {
			if r := c.get("/admin/lists"); !isLoginRedirect(r) {
				t.Fatalf("after %s a session still works: %d", what, r.Status)
			}
		}
	}
	a, b := two()
	if _, err := ta.Users.SetPassword(ctx, u.ID, "Another-Pass-99!"); err != nil {
		t.Fatal(err)
	}
	ended("a password reset", a, b)

	a, b = ta.client(), ta.client()
	a.login("dee@team.example", "Another-Pass-99!")
	b.login("dee@team.example", "Another-Pass-99!")
	r := a.post("/admin/account/password", url.Values{"current": {"Another-Pass-99!"}, "password": {testPassword}, "confirm": {testPassword}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("own password change: %d %s", r.Status, r.Body)
	}
	if r := a.get("/admin/lists"); r.Status != 200 {
		t.Fatalf("the session that changed the password: %d", r.Status)
	}
	ended("the user's own password change (other session)", b)

	a, b = two()
	if _, err := ta.Users.SetRole(ctx, u.ID, model.RoleViewer); err != nil {
		t.Fatal(err)
	}
	ended("a role change", a, b)

	a, b = two()
	secret, _, _ := ta.Users.NewTOTP(u)
	code, _ := totp.GenerateCode(secret, time.Now())
	recovery, err := ta.Users.EnableTOTP(ctx, u.ID, secret, code)
	if err != nil || len(recovery) != 10 {
		t.Fatalf("enable TOTP: %v, %d codes", err, len(recovery))
	}
	ended("turning TOTP on", a, b)

	c := ta.client()
	if r := c.post("/admin/login", url.Values{"email": {"dee@team.example"}, "password": {testPassword}}); r.Status != 401 || !strings.Contains(r.Body, `name="code"`) {
		t.Fatalf("TOTP account without code: %d", r.Status)
	}
	ta.Clock.Advance(30 * time.Second) // a code is accepted once: the next step
	code, _ = totp.GenerateCode(secret, ta.Clock.Now())
	if r := c.post("/admin/login", url.Values{"email": {"dee@team.example"}, "password": {testPassword}, "code": {"000000"}}); r.Status != 401 || !strings.Contains(r.Body, "The code is not right") {
		t.Fatalf("TOTP login with a wrong code: %d", r.Status)
	}
	if r := c.post("/admin/login", url.Values{"email": {"dee@team.example"}, "password": {testPassword}, "code": {code}}); r.Status != http.StatusSeeOther {
		t.Fatalf("TOTP login: %d %s", r.Status, r.Body)
	}
	if r := ta.client().post("/admin/login", url.Values{"email": {"dee@team.example"}, "password": {testPassword}, "code": {code}}); r.Status != 401 {
		t.Fatalf("the same TOTP code twice: %d", r.Status)
	}
	// A recovery code signs in once.
	rc := ta.client()
	if r := rc.post("/admin/login", url.Values{"email": {"dee@team.example"}, "password": {testPassword}, "code": {recovery[3]}}); r.Status != http.StatusSeeOther {
		t.Fatalf("recovery code: %d", r.Status)
	}
	if r := ta.client().post("/admin/login", url.Values{"email": {"dee@team.example"}, "password": {testPassword}, "code": {recovery[3]}}); r.Status != 401 {
		t.Fatalf("a recovery code used twice: %d", r.Status)
	}
	// An expired session (scs keeps the deadline in the sessions table) is refused.
	if _, err := ta.Store.DB.Exec(`UPDATE sessions SET expiry = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	ended("the session's expiry", rc)
	c = ta.client()
	ta.Clock.Advance(30 * time.Second) // a code is accepted once: the next step
	code, _ = totp.GenerateCode(secret, ta.Clock.Now())
	c.post("/admin/login", url.Values{"email": {"dee@team.example"}, "password": {testPassword}, "code": {code}})
	sessionOf := c

	eve := ta.user("eve@team.example", model.RoleEditor)
	e1, e2 := ta.client(), ta.client()
	e1.login("eve@team.example", testPassword)
	e2.login("eve@team.example", testPassword)
	if err := ta.Users.RemoveUser(ctx, eve.ID); err != nil {
		t.Fatal(err)
	}
	ended("removing the account", e1, e2)
	if r := sessionOf.get("/admin/lists"); r.Status != 200 {
		t.Fatalf("another user's session ended too: %d", r.Status)
	}
}

// TestAdminRoutes (issue 10): every admin route with every role, and
// anonymous: anonymous requests go to the login page, a role below the route's
// gets 403, a role at or above it gets neither.
func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "routes", 1, "confirmed")
	camp := ta.createCampaign(key, `{"name":"R","subject":"S","lists":["newsletter"],"body":"Hi"}`)
	var subID int64
	ta.Store.DB.Get(&subID, `SELECT id FROM subscribers ORDER BY id LIMIT 1`)
	victim := ta.user("victim@team.example", model.RoleViewer)
	var keyID int64
	ta.Store.DB.Get(&keyID, `SELECT id FROM api_keys ORDER BY id LIMIT 1`)
	clients := map[string]*adminClient{"": ta.client()}
	for _, role := range []string{model.RoleViewer, model.RoleEditor, model.RoleOwner} {
		clients[role] = ta.signedIn(role)
	}
	routes := ta.Admin.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d admin routes", len(routes))
	}
	for _, rt := range routes {
		path := strings.NewReplacer(":slug", "newsletter", ":name", "default", "*path", "").Replace(rt.Path)
		switch {
		case strings.HasPrefix(rt.Path, "/admin/campaigns/:id"):
			path = strings.Replace(path, ":id", strconv.FormatInt(camp, 10), 1)
		case strings.HasPrefix(rt.Path, "/admin/subscribers/:id"):
			path = strings.Replace(path, ":id", strconv.FormatInt(subID, 10), 1)
		case strings.HasPrefix(rt.Path, "/admin/users/:id"):
			path = strings.Replace(path, ":id", strconv.FormatInt(victim.ID, 10), 1)
		case strings.HasPrefix(rt.Path, "/admin/apikeys/:id"):
			path = strings.Replace(path, ":id", strconv.FormatInt(keyID, 10), 1)
		}
		if rt.Path == "/admin/logout" || rt.Path == "/admin/lists/:slug/delete" {
			continue // walked below, last: they end the session or the list
		}
		for _, role := range []string{"", model.RoleViewer, model.RoleEditor, model.RoleOwner} {
			t.Run(rt.Method+" "+rt.Path+" as "+map[string]string{"": "anonymous"}[role]+role, func(t *testing.T) {
				var r response
				if rt.Method == "GET" {
					r = clients[role].get(path)
				} else {
					r = clients[role].post(path, url.Values{})
				}
				switch {
				case rt.Role == "":
					if r.Status == 403 || r.Status >= 500 {
						t.Fatalf("%d", r.Status)
					}
				case role == "":
					if !isLoginRedirect(r) {
						t.Fatalf("anonymous: %d %s", r.Status, r.Header.Get("Location"))
					}
				case !roleAtLeast(role, rt.Role):
					if r.Status != 403 {
						t.Fatalf("%s on a %s route: %d, want 403", role, rt.Role, r.Status)
					}
				default:
					if r.Status == 403 || isLoginRedirect(r) || r.Status >= 500 {
						t.Fatalf("%s on a %s route: %d %s", role, rt.Role, r.Status, r.Body)
					}
				}
			})
		}
	}
	for _, role := range []string{model.RoleViewer, model.RoleEditor, model.RoleOwner} {
		if r := clients[role].post("/admin/lists/newsletter/delete", url.Values{"confirm": {"nope"}}); (role == model.RoleViewer) != (r.Status == 403) {
			t.Fatalf("delete list as %s: %d", role, r.Status)
		}
		if r := clients[role].post("/admin/logout", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("logout as %s: %d", role, r.Status)
		}
	}
	if r := clients[""].post("/admin/logout", nil); !isLoginRedirect(r) {
		t.Fatalf("anonymous logout: %d", r.Status)
	}
}

func roleAtLeast(role, min string) bool {
	order := map[string]int{model.RoleViewer: 1, model.RoleEditor: 2, model.RoleOwner: 3}
	return order[role] >= order[min]
}

// TestAdminCrossSite (issue 10; listmonk's CSRF chain, CVE-2026-21483): a
// state-changing admin request a browser sends from another site is refused
// and changes nothing; the public one-click unsubscribe stays open to all.
func TestAdminCrossSite(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	a := ta.signedIn(model.RoleOwner)
	form := url.Values{"slug": {"evil"}, "name": {"Evil"}}
	r := a.do("POST", "/admin/lists", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.Status != 403 || ta.count(`SELECT count(*) FROM lists WHERE slug = 'evil'`) != 0 {
		t.Fatalf("cross-site post: %d", r.Status)
	}
	r = a.do("POST", "/admin/lists", form, "Origin", ta.URL(), "Sec-Fetch-Site", "same-origin")
	if r.Status != http.StatusSeeOther || ta.count(`SELECT count(*) FROM lists WHERE slug = 'evil'`) != 1 {
		t.Fatalf("same-origin post: %d %s", r.Status, r.Body)
	}
	ta.seed("newsletter", "xs", 1, "confirmed")
	var subID int64
	ta.Store.DB.Get(&subID, `SELECT sn.id FROM subscriptions sn JOIN lists l ON l.id = sn.list_id WHERE l.slug = 'newsletter'`)
	unsub := ta.Subscribe.UnsubscribeURL(subID)
	if r := ta.do("POST", unsub, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", "Origin", "https://mail.example", "Sec-Fetch-Site", "cross-site"); r.Status != 200 {
		t.Fatalf("one-click from another site: %d", r.Status)
	}
}

// TestAdminHeaders (issue 10): admin pages carry a CSP without inline script,
// never framed; the campaign preview is served with a sandbox CSP for its
// sandboxed iframe.
func TestAdminHeaders(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	camp := ta.createCampaign(key, `{"name":"H","subject":"S","lists":["newsletter"],"body":"Hi <b>there</b>"}`)
	a := ta.signedIn(model.RoleViewer)
	for _, p := range []string{"/admin/login", "/admin/", fmt.Sprintf("/admin/campaigns/%d", camp)} {
		r := a.get(p)
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") == "" {
			t.Fatalf("%s: %v", p, r.Header)
		}
		if strings.Contains(r.Body, "<script>") || strings.Contains(r.Body, " onclick=") || strings.Contains(r.Body, " style=") {
			t.Fatalf("%s has inline script or style", p)
		}
	}
	page := a.get(fmt.Sprintf("/admin/campaigns/%d", camp))
	if !strings.Contains(page.Body, `<iframe sandbox=""`) {
		t.Fatal("the preview is not a sandboxed iframe")
	}
	pv := a.get(fmt.Sprintf("/admin/campaigns/%d/preview", camp))
	if pv.Status != 200 || !strings.HasPrefix(pv.Header.Get("Content-Security-Policy"), "sandbox;") || !strings.Contains(pv.Body, "there") {
		t.Fatalf("preview: %d %v", pv.Status, pv.Header)
	}
}

// TestAdminAuditAndQueues (issue 10): every change made in the UI is in the
// audit log (who, what, when, from which IP), which owners can filter; the
// queue monitor is mounted for owners only.
func TestAdminAuditAndQueues(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_TRUSTED_PROXIES": "127.0.0.1/32"}})
	owner := ta.signedIn(model.RoleOwner)
	editor := ta.signedIn(model.RoleEditor)
	if r := editor.do("POST", "/admin/lists", url.Values{"slug": {"audited"}, "name": {"Audited"}}, "X-Forwarded-For", "198.51.100.9"); r.Status != http.StatusSeeOther {
		t.Fatalf("create list: %d", r.Status)
	}
	if r := editor.post("/admin/lists", url.Values{"slug": {"Bad Slug"}, "name": {"x"}}); r.Status != 422 || !strings.Contains(r.Body, "A slug is") {
		t.Fatalf("bad list: %d", r.Status)
	}
	var e model.AuditEntry
	if err := ta.Store.DB.Get(&e, `SELECT id, created_at, user_id, user_email, action, target, host(ip) AS ip FROM audit_log WHERE action = 'list.create'`); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.UserEmail, "editor-") || e.Target != "list=audited" || e.IP == nil || *e.IP != "198.51.100.9" {
		t.Fatalf("audit entry %+v", e)
	}
	if n := ta.count(`SELECT count(*) FROM audit_log WHERE action = 'list.create'`); n != 1 {
		t.Fatalf("%d list.create entries (a refused change must not be logged)", n)
	}
	page := owner.get("/admin/audit?action=list.create")
	if page.Status != 200 || !strings.Contains(page.Body, "list=audited") || !strings.Contains(page.Body, "198.51.100.9") || strings.Contains(page.Body, "<code>login</code>") {
		t.Fatalf("audit page: %d\n%s", page.Status, page.Body)
	}
	if r := editor.get("/admin/audit"); r.Status != 403 {
		t.Fatalf("an editor read the audit log: %d", r.Status)
	}
	q := owner.get("/admin/queues/")
	qcsp := q.Header.Get("Content-Security-Policy")
	if q.Status != 200 || !strings.Contains(q.Body, "Asynq") || !strings.Contains(qcsp, "frame-ancestors 'none'") ||
		strings.Count(qcsp, "'sha256-") != 2 || strings.Contains(strings.SplitN(strings.SplitN(qcsp, "script-src", 2)[1], ";", 2)[0], "unsafe-inline") {
		t.Fatalf("queue monitor: %d, CSP %q", q.Status, qcsp)
	}
	if r := owner.get("/admin/queues/api/queues"); r.Status != 200 || !strings.Contains(r.Body, "queues") {
		t.Fatalf("queue monitor API: %d %s", r.Status, r.Body)
	}
	if r := editor.get("/admin/queues/"); r.Status != 403 {
		t.Fatalf("an editor opened the queue monitor: %d", r.Status)
	}
}

// TestAdminListEdit (issue 10): an editor changes a list's consent text and
// welcome message; the form shows the new text, a signup records the version
// it was made under (the old text's events keep theirs), and the welcome mail
// carries the new subject and text. Bad input comes back with every field's
// message and what was typed.
func TestAdminListEdit(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	a := ta.signedIn(model.RoleEditor)
	if r := ta.signup("before@example.com"); r.Status != 200 {
		t.Fatal(r.Status)
	}
	form := url.Values{"name": {"The Weekly Letter"}, "description": {"News every Friday."}, "welcome_enabled": {"on"},
		"welcome_subject": {"Glad you are here"}, "welcome_body": {"First paragraph.\n\nSecond one."},
		"consent_text": {"Yes, send me the Weekly Letter by email; I can leave at any time."}}
	if r := a.post("/admin/lists/newsletter", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	page := ta.get("/subscribe/newsletter")
	if !strings.Contains(page.Body, "Yes, send me the Weekly Letter by email") {
		t.Fatal("the form does not show the new consent text")
	}
	ta.signup("after@example.com")
	var versions []string
	ta.Store.DB.Select(&versions, `SELECT DISTINCT c.consent_text_version FROM consent_log c JOIN subscribers s ON s.id = c.subscriber_id ORDER BY 1`)
	if len(versions) != 2 {
		t.Fatalf("consent versions %v, want one per text", versions)
	}
	var text string
	ta.Store.DB.Get(&text, `SELECT t.body FROM consent_log c JOIN subscribers s ON s.id = c.subscriber_id
		JOIN consent_texts t ON t.version = c.consent_text_version WHERE s.email = 'after@example.com'`)
	if !strings.HasPrefix(text, "Yes, send me the Weekly Letter") {
		t.Fatalf("the new signup's consent text: %q", text)
	}
	confirmURL := link(t, ta.waitMail("after@example.com", 1)[0], "confirm")
	if r := ta.do("POST", confirmURL, "", ""); r.Status != 200 {
		t.Fatal(r.Status)
	}
	welcome := ta.waitMail("after@example.com", 2)[1]
	if welcome.Subject() != "Glad you are here" || !strings.Contains(welcome.Part("text/plain"), "Second one.") {
		t.Fatalf("welcome: %q\n%s", welcome.Subject(), welcome.Part("text/plain"))
	}
	bad := url.Values{"name": {""}, "welcome_subject": {strings.Repeat("x", 201)}, "consent_text": {"two\nlines"}}
	r := a.post("/admin/lists/newsletter", bad)
	if r.Status != 422 || !strings.Contains(r.Body, "under 200 characters") || !strings.Contains(r.Body, "without line breaks") {
		t.Fatalf("bad input: %d\n%s", r.Status, r.Body)
	}
}

// TestAdminRenameSubscriber (issue 10): an editor corrects a name (recorded
// in the audit log); a bad one comes back with the message and what was typed.
func TestAdminRenameSubscriber(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.seed("newsletter", "rn", 1, "confirmed")
	var id int64
	ta.Store.DB.Get(&id, `SELECT id FROM subscribers`)
	a := ta.signedIn(model.RoleEditor)
	path := fmt.Sprintf("/admin/subscribers/%d", id)
	if r := a.post(path, url.Values{"name": {"  Renée Martin "}}); r.Status != http.StatusSeeOther {
		t.Fatalf("rename: %d", r.Status)
	}
	var name string
	ta.Store.DB.Get(&name, `SELECT name FROM subscribers WHERE id = $1`, id)
	if name != "Renée Martin" || ta.count(`SELECT count(*) FROM audit_log WHERE action = 'subscriber.rename'`) != 1 {
		t.Fatalf("name %q", name)
	}
	r := a.post(path, url.Values{"name": {strings.Repeat("x", 201)}})
	if r.Status != 422 || !strings.Contains(r.Body, "under 200 characters") || !strings.Contains(r.Body, strings.Repeat("x", 201)) {
		t.Fatalf("bad name: %d", r.Status)
	}
	if r := ta.signedIn(model.RoleViewer).post(path, url.Values{"name": {"Nope"}}); r.Status != 403 {
		t.Fatalf("a viewer renamed: %d", r.Status)
	}
	// A complaint from the subscriber page.
	if r := a.post(path+"/suppress", url.Values{"reason": {"objection"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("suppress: %d %s", r.Status, r.Body)
	}
	if page := a.get(path); !strings.Contains(page.Body, `id="suppressed"`) || !strings.Contains(page.Body, "objection") ||
		ta.count(`SELECT count(*) FROM audit_log WHERE action = 'subscriber.suppress'`) != 1 {
		t.Fatalf("after suppressing:\n%s", page.Body)
	}
}

// TestAdminSettingsAndQueue (issue 10): the settings page sends a test message
// through the relay (an owner only); the dashboard shows the queue's health.
func TestAdminSettingsAndQueue(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true})
	a := ta.signedIn(model.RoleOwner)
	page := a.get("/admin/settings")
	if page.Status != 200 || !strings.Contains(page.Body, "1 Rue de la Paix") || !strings.Contains(page.Body, "Send a test message") {
		t.Fatalf("settings: %d", page.Status)
	}
	if r := a.post("/admin/settings/test", url.Values{"to": {"team@example.com"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("test mail: %d %s", r.Status, r.Body)
	}
	if m := ta.waitMail("team@example.com", 1)[0]; m.Subject() != "Envoi test message" {
		t.Fatalf("subject %q", m.Subject())
	}
	if r := a.post("/admin/settings/test", url.Values{"to": {"not an address"}}); r.Status != 422 || !strings.Contains(r.Body, "Give an address") {
		t.Fatalf("bad address: %d", r.Status)
	}
	if r := ta.signedIn(model.RoleEditor).post("/admin/settings/test", url.Values{"to": {"x@example.com"}}); r.Status != 403 {
		t.Fatalf("an editor sent a test: %d", r.Status)
	}
	// No worker runs: a signup's confirmation waits in the queue, and the dashboard says so.
	ta.signup("queued@example.com")
	dash := a.get("/admin/")
	if !strings.Contains(dash.Body, `<p id="queue-health">1 waiting`) {
		t.Fatalf("queue health not shown:\n%s", dash.Body)
	}
}

// TestAdminLayouts (issue 10): layouts are listed with default read-only; a
// layout's page previews it around a sample body in a sandboxed iframe; an
// editor saves one, a bad one comes back with its error.
func TestAdminLayouts(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	a := ta.signedIn(model.RoleEditor)
	if r := a.get("/admin/layouts/default"); r.Status != 200 || !strings.Contains(r.Body, "read-only") || !strings.Contains(r.Body, `src="/admin/layouts/default/preview"`) {
		t.Fatalf("default layout page: %d", r.Status)
	}
	pv := a.get("/admin/layouts/default/preview")
	if pv.Status != 200 || !strings.Contains(pv.Body, "A sample heading") || !strings.HasPrefix(pv.Header.Get("Content-Security-Policy"), "sandbox;") {
		t.Fatalf("layout preview: %d %v", pv.Status, pv.Header)
	}
	if r := a.get("/admin/layouts/nothing/preview"); r.Status != 404 {
		t.Fatalf("preview of no layout: %d", r.Status)
	}
	html := `<html><body><div class="box">{{.Content}}</div><p>{{.Org}}</p><a href="{{.UnsubscribeURL}}">Leave</a></body></html>`
	if r := a.post("/admin/layouts", url.Values{"name": {"boxed"}, "html": {html}}); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	if r := a.get("/admin/layouts/boxed/preview"); !strings.Contains(r.Body, "A sample heading") || !strings.Contains(r.Body, "Leave") {
		t.Fatalf("saved layout preview:\n%s", r.Body)
	}
	if r := a.post("/admin/layouts", url.Values{"name": {"broken"}, "html": {"<p>no content</p>"}}); r.Status != 422 || !strings.Contains(r.Body, "{{.Content}}") {
		t.Fatalf("bad layout: %d", r.Status)
	}
}
