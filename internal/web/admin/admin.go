// Package admin serves the marketers' web UI under /admin/: server-rendered
// pages (templates/admin), htmx for live parts, sessions kept in PostgreSQL
// (alexedwards/scs), roles checked on every route, cross-site writes refused
// (net/http.CrossOriginProtection) and every change recorded in the audit log.
// Handlers parse, call one service method and render; no SQL here.
package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/auth"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/delivery"
	"github.com/envoi/envoi/internal/gdpr"
	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/web"
	"github.com/envoi/envoi/templates"
)

// Settings are what the settings page shows (they come from ENVOI_* variables).
type Settings struct {
	BaseURL, From, Organization, PrivacyContact, PostalAddress, SMTP string
	DKIM                                                             string
	TestAddresses                                                    []string
}

// Language is one of the languages of locales/.
type Language struct{ Tag, Name string }

// Handler serves the admin UI. Build it once, then Register.
type Handler struct {
	Web       *web.Server
	Users     *auth.Users
	Auth      *auth.Service
	Lists     *lists.Service
	Subscribe *subscribe.Service
	GDPR      *gdpr.Service
	Campaigns *campaign.Service
	Delivery  *delivery.Service
	Imports   *imports.Service
	Sessions  *scs.SessionManager
	Settings  Settings
	// Languages a list's pages and mails may be in: tag and name.
	Languages []Language
	// Queues, when set, is the queue monitor (asynqmon) mounted at /admin/queues/.
	Queues http.Handler
	Log    *slog.Logger

	pages        map[string]*template.Template
	cop          *http.CrossOriginProtection
	queuesPolicy string
}

// Route is one admin route with the least role it needs ("" for anyone, even
// signed out) and the audit action it records when it succeeds ("" for none).
type Route struct {
	Method, Path, Role, Action string
	handle                     gin.HandlerFunc
}

// Routes lists every admin route; Register adds them and tests walk them.
func (h *Handler) Routes() []Route {
	const anyone, viewer, editor, owner = "", model.RoleViewer, model.RoleEditor, model.RoleOwner
	r := func(method, path, role, action string, f gin.HandlerFunc) Route {
		return Route{Method: method, Path: path, Role: role, Action: action, handle: f}
	}
	routes := []Route{
		r("GET", "/admin/login", anyone, "", h.loginPage),
		r("POST", "/admin/login", anyone, "", h.login),
		r("POST", "/admin/logout", viewer, "logout", h.logout),
		r("GET", "/admin/", viewer, "", h.dashboard),
		r("GET", "/admin/account", viewer, "", h.account),
		r("POST", "/admin/account/password", viewer, "account.password", h.changePassword),
		r("POST", "/admin/account/totp", viewer, "account.totp_on", h.enableTOTP),
		r("POST", "/admin/account/totp/disable", viewer, "account.totp_off", h.disableTOTP),
		r("GET", "/admin/lists", viewer, "", h.lists),
		r("POST", "/admin/lists", editor, "list.create", h.createList),
		r("GET", "/admin/lists/:slug", viewer, "", h.list),
		r("POST", "/admin/lists/:slug", editor, "list.update", h.updateList),
		r("POST", "/admin/lists/:slug/delete", editor, "list.delete", h.deleteList),
		r("GET", "/admin/subscribers", viewer, "", h.subscribers),
		r("POST", "/admin/subscribers", editor, "subscriber.add", h.addSubscriber),
		r("GET", "/admin/subscribers/:id", viewer, "", h.subscriber),
		r("POST", "/admin/subscribers/:id", editor, "subscriber.rename", h.renameSubscriber),
		r("POST", "/admin/subscribers/:id/suppress", editor, "subscriber.suppress", h.suppressSubscriber),
		r("POST", "/admin/subscribers/:id/unsubscribe", editor, "subscriber.unsubscribe", h.unsubscribeSubscriber),
		r("GET", "/admin/imports", viewer, "", h.importsPage),
		r("POST", "/admin/imports", editor, "import.start", h.startImport),
		r("GET", "/admin/imports/:id", viewer, "", h.importPage),
		r("GET", "/admin/imports/:id/progress", viewer, "", h.importProgress),
		// The GDPR service writes these three to the audit log itself, with the reason.
		r("GET", "/admin/subscribers/:id/export", editor, "", h.exportSubscriber),
		r("POST", "/admin/subscribers/:id/restrict", editor, "", h.restrictSubscriber),
		r("POST", "/admin/subscribers/:id/erase", owner, "", h.eraseSubscriber),
		r("GET", "/admin/campaigns", viewer, "", h.campaigns),
		r("GET", "/admin/campaigns/new", editor, "", h.newCampaign),
		r("POST", "/admin/campaigns", editor, "campaign.create", h.createCampaign),
		r("POST", "/admin/campaigns/preview", editor, "", h.livePreview),
		r("GET", "/admin/campaigns/:id", viewer, "", h.campaign),
		r("POST", "/admin/campaigns/:id", editor, "campaign.update", h.updateCampaign),
		r("GET", "/admin/campaigns/:id/preview", viewer, "", h.preview),
		r("GET", "/admin/campaigns/:id/progress", viewer, "", h.progress),
		r("POST", "/admin/campaigns/:id/test", editor, "campaign.test", h.testCampaign),
		r("POST", "/admin/campaigns/:id/send", editor, "campaign.send", h.sendCampaign),
		r("POST", "/admin/campaigns/:id/pause", editor, "campaign.pause", h.campaignAction(h.Campaigns.Pause)),
		r("POST", "/admin/campaigns/:id/resume", editor, "campaign.resume", h.campaignAction(h.Campaigns.Resume)),
		r("POST", "/admin/campaigns/:id/cancel", editor, "campaign.cancel", h.campaignAction(h.Campaigns.Cancel)),
		r("POST", "/admin/campaigns/:id/clone", editor, "campaign.clone", h.cloneCampaign),
		r("POST", "/admin/campaigns/:id/delete", editor, "campaign.delete", h.deleteCampaign),
		r("GET", "/admin/layouts", viewer, "", h.layouts),
		r("POST", "/admin/layouts", editor, "layout.save", h.saveLayout),
		r("GET", "/admin/layouts/:name", viewer, "", h.layout),
		r("GET", "/admin/layouts/:name/preview", viewer, "", h.layoutPreview),
		r("GET", "/admin/settings", owner, "", h.settings),
		r("GET", "/admin/register", owner, "", h.register),
		r("GET", "/admin/register/download", owner, "", h.registerDownload),
		r("POST", "/admin/settings/test", owner, "settings.test_mail", h.settingsTest),
		r("GET", "/admin/users", owner, "", h.users),
		r("POST", "/admin/users", owner, "user.create", h.createUser),
		r("POST", "/admin/users/:id/role", owner, "user.role", h.setRole),
		r("POST", "/admin/users/:id/delete", owner, "user.remove", h.removeUser),
		r("GET", "/admin/apikeys", owner, "", h.apiKeys),
		r("POST", "/admin/apikeys", owner, "apikey.create", h.createAPIKey),
		r("POST", "/admin/apikeys/:id/revoke", owner, "apikey.revoke", h.revokeAPIKey),
		r("GET", "/admin/audit", owner, "", h.audit),
	}
	if h.Queues != nil {
		q := h.queues
		routes = append(routes, r("GET", "/admin/queues/*path", owner, "", q),
			r("POST", "/admin/queues/*path", owner, "queues.change", q),
			r("DELETE", "/admin/queues/*path", owner, "queues.change", q))
	}
	return routes
}

// queuesCSP is the queue monitor's (asynqmon, a prebuilt React page): its two
// inline bootstrap scripts are allowed by their hashes (queueScripts), no
// other inline script; its component styles are injected at run time, so
// styles may be inline there. Owners only; it shows task ids, never personal
// data; its web fonts from Google are not loaded (system fonts instead).
func queuesCSP(scriptHashes []string) string {
	return "default-src 'self'; script-src 'self' " + strings.Join(scriptHashes, " ") + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// queueScripts hashes the inline scripts of the queue monitor's page, as the
// handler serves it (they carry its root path).
func queueScripts(q http.Handler) []string {
	rec := httptest.NewRecorder()
	q.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/queues/", nil))
	var hashes []string
	for _, m := range inlineScript.FindAllStringSubmatch(rec.Body.String(), -1) {
		sum := sha256.Sum256([]byte(m[1]))
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return hashes
}

// queues serves the queue monitor at /admin/queues/ (owners).
func (h *Handler) queues(c *gin.Context) {
	c.Header("Content-Security-Policy", h.queuesPolicy)
	h.Queues.ServeHTTP(c.Writer, c.Request)
}

// Register parses the admin templates and adds the routes.
func (h *Handler) Register(r *gin.Engine) error {
	if err := h.parse(); err != nil {
		return err
	}
	h.cop = http.NewCrossOriginProtection()
	if h.Queues != nil {
		h.queuesPolicy = queuesCSP(queueScripts(h.Queues))
	}
	r.GET("/login", func(c *gin.Context) { c.Redirect(http.StatusFound, "/admin/login") })
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/admin/") })
	r.GET("/admin", func(c *gin.Context) { c.Redirect(http.StatusFound, "/admin/") })
	g := r.Group("", h.headers, h.session, h.crossOrigin)
	for _, rt := range h.Routes() {
		chain := []gin.HandlerFunc{h.identify}
		if rt.Role != "" {
			chain = append(chain, h.require(rt.Role))
		}
		if rt.Action != "" {
			chain = append(chain, h.audited(rt.Action))
		}
		g.Handle(rt.Method, rt.Path, append(chain, rt.handle)...)
	}
	return nil
}

// adminCSP: scripts and styles only from Envoi itself (htmx, app.js, Pico),
// frames only Envoi's own sandboxed previews, never framed.
const adminCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

func (h *Handler) headers(c *gin.Context) {
	c.Header("Content-Security-Policy", adminCSP)
	c.Header("Referrer-Policy", "same-origin")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("X-Frame-Options", "DENY")
	c.Header("Cache-Control", "no-store")
	c.Next()
}

// crossOrigin refuses state-changing requests sent by a browser from another
// site (CSRF), by the Sec-Fetch-Site and Origin headers.
func (h *Handler) crossOrigin(c *gin.Context) {
	if err := h.cop.Check(c.Request); err != nil {
		h.fail(c, apperr.New(apperr.Forbidden, "This request came from another site and was refused. Use the admin pages themselves."))
		return
	}
	c.Next()
}

// session loads the scs session and saves it before the response is written
// (scs's LoadAndSave, done around gin's writer).
func (h *Handler) session(c *gin.Context) {
	var token string
	if ck, err := c.Request.Cookie(h.Sessions.Cookie.Name); err == nil {
		token = ck.Value
	}
	ctx, err := h.Sessions.Load(c.Request.Context(), token)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Request = c.Request.WithContext(ctx)
	c.Header("Vary", "Cookie")
	sw := &sessionWriter{ResponseWriter: c.Writer, h: h, c: c}
	c.Writer = sw
	c.Next()
	sw.commit()
}

type sessionWriter struct {
	gin.ResponseWriter
	h    *Handler
	c    *gin.Context
	done bool
}

func (w *sessionWriter) commit() {
	if w.done {
		return
	}
	w.done = true
	ctx := w.c.Request.Context()
	sm := w.h.Sessions
	switch sm.Status(ctx) {
	case scs.Modified:
		token, expiry, err := sm.Commit(ctx)
		if err != nil {
			w.h.Log.Error("save admin session", slog.Any("error", err))
			return
		}
		sm.WriteSessionCookie(ctx, w.ResponseWriter, token, expiry)
	case scs.Destroyed:
		sm.WriteSessionCookie(ctx, w.ResponseWriter, "", time.Time{})
	}
}

func (w *sessionWriter) WriteHeader(code int) { w.commit(); w.ResponseWriter.WriteHeader(code) }
func (w *sessionWriter) WriteHeaderNow()      { w.commit(); w.ResponseWriter.WriteHeaderNow() }
func (w *sessionWriter) Write(b []byte) (int, error) {
	w.commit()
	return w.ResponseWriter.Write(b)
}
func (w *sessionWriter) WriteString(s string) (int, error) {
	w.commit()
	return w.ResponseWriter.WriteString(s)
}

// Unwrap lets http.ResponseController reach the connection (an import's upload extends its deadlines).
func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

const (
	keyUser    = "user_id"
	keyVersion = "session_version"
	keyFlash   = "flash"
)

// identify finds the signed-in user, if any. A session made before the
// account's password, role or TOTP changed (or of a removed account) ends here.
func (h *Handler) identify(c *gin.Context) {
	ctx := c.Request.Context()
	id := h.Sessions.GetInt64(ctx, keyUser)
	if id == 0 {
		c.Next()
		return
	}
	u, err := h.Users.UserByID(ctx, id)
	if apperr.ErrorCode(err) == apperr.NotFound || (err == nil && u.SessionVersion != h.Sessions.GetInt(ctx, keyVersion)) {
		h.Sessions.Destroy(ctx)
		c.Next()
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("user", u)
	c.Next()
}

func currentUser(c *gin.Context) (model.User, bool) {
	u, ok := c.Get("user")
	if !ok {
		return model.User{}, false
	}
	return u.(model.User), true
}

// require sends a signed-out visitor to the login page and answers 403 to a
// user whose role is below min.
func (h *Handler) require(min string) gin.HandlerFunc {
	return func(c *gin.Context) {
		u, ok := currentUser(c)
		if !ok {
			next := ""
			if c.Request.Method == http.MethodGet {
				next = "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
			}
			c.Redirect(http.StatusSeeOther, "/admin/login"+next)
			c.Abort()
			return
		}
		if !auth.RoleAtLeast(u.Role, min) {
			h.fail(c, apperr.New(apperr.Forbidden, fmt.Sprintf("Your role (%s) cannot do this: it needs %s. Ask an owner.", u.Role, min)))
			return
		}
		c.Next()
	}
}

// audited records the action in the audit log when the handler succeeded.
// Handlers may name the target with c.Set("audit", "…").
func (h *Handler) audited(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if c.Writer.Status() >= 400 {
			return
		}
		u, ok := currentUser(c)
		if !ok {
			if v, found := c.Get("audit_user"); found {
				u, ok = v.(model.User), true
			}
		}
		if !ok {
			return
		}
		target := c.GetString("audit")
		if target == "" {
			var parts []string
			for _, p := range c.Params {
				parts = append(parts, p.Key+"="+p.Value)
			}
			target = strings.Join(parts, " ")
		}
		ip := c.ClientIP()
		if err := h.Users.Record(context.WithoutCancel(c.Request.Context()), model.AuditEntry{UserID: &u.ID, UserEmail: u.Email,
			Action: action, Target: target, IP: &ip}); err != nil {
			h.Log.Error("audit log", slog.String("action", action), slog.Any("error", err))
		}
	}
}

// parse reads templates/admin: base.html.tmpl and the partial_* files around each page.
func (h *Handler) parse() error {
	h.pages = map[string]*template.Template{}
	names, err := fs.Glob(templates.FS, "admin/*.html.tmpl")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "admin/"), ".html.tmpl")
		if base == "base" || strings.HasPrefix(base, "partial_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templates.FS, "admin/base.html.tmpl", "admin/partial_*.html.tmpl", n)
		if err != nil {
			return fmt.Errorf("admin template %s: %w", n, err)
		}
		h.pages[base] = t
	}
	return nil
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"pct": func(n, total int64) int64 {
		if total <= 0 {
			return 0
		}
		return n * 100 / total
	},
	"atLeast": auth.RoleAtLeast,
	"join":    strings.Join,
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"add": func(a, b int) int { return a + b },
}

// render writes an admin page (or, with a layout of "", the bare fragment).
func (h *Handler) render(c *gin.Context, status int, page string, data gin.H) {
	t, ok := h.pages[page]
	if !ok {
		h.fail(c, fmt.Errorf("no admin page %q", page))
		return
	}
	if data == nil {
		data = gin.H{}
	}
	if u, ok := currentUser(c); ok {
		data["User"] = u
	}
	data["Path"] = c.Request.URL.Path
	data["Org"] = h.Settings.Organization
	if _, ok := data["Flash"]; !ok {
		data["Flash"] = h.Sessions.PopString(c.Request.Context(), keyFlash)
	}
	var b bytes.Buffer
	name := "base"
	if c.GetHeader("HX-Request") == "true" && t.Lookup("fragment") != nil {
		name = "fragment"
	}
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		h.Log.Error("render admin page", slog.String("page", page), slog.Any("error", err))
		h.fail(c, errors.New("render"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// fail answers an error as an admin page (or JSON for htmx/JSON clients).
func (h *Handler) fail(c *gin.Context, err error) {
	h.Web.Fail(c, err)
	c.Abort()
}

// flash keeps a message for the next page the user sees.
func (h *Handler) flash(c *gin.Context, msg string) {
	h.Sessions.Put(c.Request.Context(), keyFlash, msg)
}

// formErrors turns a validation error into messages by field, for forms to
// show next to their inputs; other errors give nil.
func formErrors(err error) map[string]string {
	e, ok := apperr.As(err)
	if !ok || (e.Code != apperr.Invalid && e.Code != apperr.Conflict) {
		return nil
	}
	field := e.Field
	if field == "" {
		field = "_"
	}
	out := map[string]string{field: e.Message}
	var all apperr.FieldErrors
	if errors.As(err, &all) {
		for _, fe := range all {
			out[fe.Field] = fe.Message
		}
	}
	return out
}

func paramID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

var errNotFound = apperr.New(apperr.NotFound, "There is nothing at this address.")
