// Package web is Envoi's HTTP layer shared by every audience: the gin engine,
// middleware (panic recovery), health checks, static files, page rendering, the
// one table from error codes to HTTP statuses (Fail), and JSON body binding.
// Handlers live per audience in web/public (subscriber pages), web/api (the
// JSON API) and, later, web/admin; each parses input, calls one domain service
// method and renders. No package under web touches the store.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/locale"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/requestid"
	"github.com/envoi/envoi/static"
	"github.com/envoi/envoi/templates"
)

// MaxJSONBytes bounds a JSON API body.
const MaxJSONBytes = 1 << 20

// Server is the engine and what rendering needs. Build it with New, let each
// audience add its routes to Engine, then serve Handler().
type Server struct {
	Log            *slog.Logger
	Org            string
	PrivacyContact string
	PostalAddress  string
	// Checks are run by /readyz, by name (postgres, redis).
	Checks map[string]func(context.Context) error
	// TrustedProxies are the CIDRs whose X-Forwarded-For gives the client IP.
	TrustedProxies []string
	// HTTPS: the public URL is https, so browsers are told to keep to it (HSTS).
	HTTPS bool
	// Locale translates the subscriber pages (data "Lang": the list's language).
	Locale *locale.Catalog
	// Observe, when set, is told of every request (metrics): method, route
	// pattern, status and duration.
	Observe func(method, route string, status int, d time.Duration)

	Engine *gin.Engine
	pages  map[string]*template.Template
}

// New parses the page templates and builds the engine with the routes every
// audience shares: /healthz, /readyz, /static/, and the 404 and 405 answers.
func New(s Server) (*Server, error) {
	srv := &s
	if err := srv.parsePages(); err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	// The client IP (limits, consent log) comes from X-Forwarded-For only
	// through the proxies named in ENVOI_TRUSTED_PROXIES.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := r.SetTrustedProxies(srv.TrustedProxies); err != nil {
		return nil, err
	}
	r.Use(srv.requestLog, srv.recoverer, srv.secure)
	r.GET("/healthz", srv.healthz)
	r.GET("/readyz", srv.readyz)
	staticFS, _ := fs.Sub(static.FS, ".")
	r.StaticFS("/static", noDirs{http.FS(staticFS)})
	r.NoRoute(func(c *gin.Context) { srv.Fail(c, apperr.New(apperr.NotFound, "There is nothing at this address.")) })
	r.NoMethod(func(c *gin.Context) {
		srv.Fail(c, apperr.New(apperr.NotAllowed, "This address does not accept "+c.Request.Method+" requests."))
	})
	srv.Engine = r
	return srv, nil
}

// Handler is the engine with every route added. HEAD is answered wherever GET
// is: the request runs as a GET (which never changes state) without its body.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r.Method = http.MethodGet
			w = headWriter{w}
		}
		s.Engine.ServeHTTP(w, r)
	})
}

// headWriter drops the body of a response to a HEAD request.
type headWriter struct{ http.ResponseWriter }

func (h headWriter) Write(b []byte) (int, error) { return len(b), nil }

// noDirs serves files and nothing else: a directory is not found (no listing).
type noDirs struct{ fs http.FileSystem }

func (n noDirs) Open(name string) (http.File, error) {
	f, err := n.fs.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, fs.ErrNotExist
	}
	return f, nil
}

// secure sets the headers every response carries: nosniff, a strict CSP
// (pages set their own in Render), and HSTS when the public URL is https.
func (s *Server) secure(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	if s.HTTPS {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	c.Next()
}

func (s *Server) parsePages() error {
	s.pages = map[string]*template.Template{}
	names, err := fs.Glob(templates.FS, "pages/*.html.tmpl")
	if err != nil {
		return err
	}
	for _, n := range names {
		t, err := template.New(path.Base(n)).Funcs(pageFuncs).ParseFS(templates.FS, "partials/*.html.tmpl", n)
		if err != nil {
			return err
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(n, "pages/"), ".html.tmpl")] = t
	}
	return nil
}

// Translator is the language of a subscriber page: the list's (data "Lang")
// when known, else what the browser asks for (Accept-Language), else English.
func (s *Server) Translator(c *gin.Context, data gin.H) locale.T {
	if s.Locale == nil {
		return locale.T{Lang: locale.Default}
	}
	lang, _ := data["Lang"].(string)
	if lang == "" || !s.Locale.Has(lang) {
		tags, _, _ := language.ParseAcceptLanguage(c.GetHeader("Accept-Language"))
		lang = locale.Default
		for _, tag := range tags {
			if b, _ := tag.Base(); s.Locale.Has(b.String()) {
				lang = b.String()
				break
			}
		}
	}
	return s.Locale.For(lang)
}

// pageFuncs: args makes the data of a translated message ({{.T.T "id" (args "List" .Name)}}).
var pageFuncs = template.FuncMap{
	"args": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			if k, ok := kv[i].(string); ok {
				m[k] = kv[i+1]
			}
		}
		return m
	},
}

// Render writes a page of templates/pages. data gets the footer fields added.
func (s *Server) Render(c *gin.Context, status int, page string, data gin.H) {
	data["Org"], data["PrivacyContact"], data["PostalAddress"] = s.Org, s.PrivacyContact, s.PostalAddress
	t := s.Translator(c, data)
	data["T"], data["Lang"] = t, t.Lang
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer") // tokens live in URLs
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	c.Status(status)
	if err := s.pages[page].ExecuteTemplate(c.Writer, "base", data); err != nil {
		s.Log.Error("render page", slog.String("page", page), slog.Any("error", err))
	}
}

// Attachment answers a file to download (an export), never cached.
func (s *Server) Attachment(c *gin.Context, f model.File) {
	if f.Err != nil {
		s.Fail(c, f.Err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+f.Name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, f.ContentType, f.Body)
}

// statuses maps error codes to HTTP statuses; anything unknown is a 500.
var statuses = map[string]int{
	apperr.BadRequest:   http.StatusBadRequest,
	apperr.Invalid:      http.StatusUnprocessableEntity,
	apperr.NotFound:     http.StatusNotFound,
	apperr.Conflict:     http.StatusConflict,
	apperr.Unauthorized: http.StatusUnauthorized,
	apperr.Forbidden:    http.StatusForbidden,
	apperr.Expired:      http.StatusGone,
	apperr.Unavailable:  http.StatusServiceUnavailable,
	apperr.NotAllowed:   http.StatusMethodNotAllowed,
	apperr.TooLarge:     http.StatusRequestEntityTooLarge,
	apperr.Unsupported:  http.StatusUnsupportedMediaType,
	apperr.TooMany:      http.StatusTooManyRequests,
}

var titles = map[int]string{
	http.StatusBadRequest:            "This link does not work",
	http.StatusNotFound:              "Page not found",
	http.StatusForbidden:             "Not allowed from there",
	http.StatusGone:                  "This link has expired",
	http.StatusServiceUnavailable:    "Please try again in a moment",
	http.StatusInternalServerError:   "Something went wrong on our side",
	http.StatusMethodNotAllowed:      "Not allowed",
	http.StatusRequestEntityTooLarge: "Too much data",
	http.StatusUnsupportedMediaType:  "Unsupported request",
	http.StatusTooManyRequests:       "Too many requests",
}

// Fail answers err as JSON under /api/ or for JSON requests, as a page otherwise.
// Only internal errors are logged; their detail is never shown.
func (s *Server) Fail(c *gin.Context, err error) {
	s.FailPage(c, err, gin.H{})
}

// FailPage is Fail with extra data for the error page (such as a resend button).
func (s *Server) FailPage(c *gin.Context, err error, extra gin.H) {
	e, ok := apperr.As(err)
	status, known := 0, false
	if ok {
		status, known = statuses[e.Code]
	}
	if !known {
		s.Log.Error("request failed", slog.String("method", c.Request.Method), slog.String("path", c.FullPath()), slog.Any("error", err))
		status = http.StatusInternalServerError
		e = apperr.New(apperr.Internal, "Something went wrong on our side. Nothing you sent was lost; please try again in a moment.")
		if isUnavailable(err) {
			status = http.StatusServiceUnavailable
			e = apperr.New(apperr.Unavailable, "The service is briefly unavailable. Nothing you sent was saved; please try again in a moment.")
		}
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if WantsJSON(c) {
		body := gin.H{"error": e.Message}
		if e.Field != "" {
			body["field"] = e.Field
		}
		c.AbortWithStatusJSON(status, body)
		return
	}
	title := titles[status]
	if title == "" {
		title = "Something is not right"
	}
	t := s.Translator(c, extra)
	extra["Title"], extra["Message"] = t.T(title), t.T(e.Message)
	s.Render(c, status, "error", extra)
	c.Abort()
}

func isUnavailable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "bad connection") || strings.Contains(err.Error(), "the database system is")
}

// WantsJSON reports whether a request is answered in JSON: the API, a JSON
// body, or a client that asks for JSON and not HTML.
func WantsJSON(c *gin.Context) bool {
	return strings.HasPrefix(c.Request.URL.Path, "/api/") ||
		strings.HasPrefix(c.ContentType(), "application/json") ||
		(strings.Contains(c.GetHeader("Accept"), "application/json") && !strings.Contains(c.GetHeader("Accept"), "text/html"))
}

// Errors of body decoding, shared by the audiences.
var (
	ErrTooLarge = apperr.New(apperr.TooLarge, "The request is too large.")
)

// BindJSON decodes a JSON body of at most MaxJSONBytes into v, refusing
// unknown fields, with errors a person can act on. Codes: bad_request,
// too_large, unsupported_media.
func BindJSON(c *gin.Context, v any) error {
	if ct := c.ContentType(); !strings.HasPrefix(ct, "application/json") {
		if ct == "" {
			ct = "none"
		}
		return apperr.New(apperr.Unsupported, "This endpoint takes a JSON body (Content-Type: application/json); the request's Content-Type was "+ct+".")
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, MaxJSONBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ErrTooLarge
		}
		return apperr.New(apperr.BadRequest, "The request body is not valid JSON for this endpoint: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.New(apperr.BadRequest, "The request body has data after the JSON value; send one JSON object.")
	}
	return nil
}

// requestLog gives each request an id (the client's X-Request-ID when it is a
// plain token, else a new one), returns it, carries it in the context (into
// the jobs the request enqueues) and logs one line when the request is done:
// method, route pattern (never the path's values or the query), status,
// duration and id.
func (s *Server) requestLog(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader("X-Request-ID")
	if !requestid.Valid(id) {
		id = requestid.New()
	}
	c.Header("X-Request-ID", id)
	c.Request = c.Request.WithContext(requestid.With(c.Request.Context(), id))
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	if s.Observe != nil {
		s.Observe(c.Request.Method, route, c.Writer.Status(), d)
	}
	s.Log.Info("request", slog.String("method", c.Request.Method), slog.String("route", route), slog.Int("status", c.Writer.Status()),
		slog.Duration("duration", d), slog.String("request_id", id))
}

func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Log.Error("panic", slog.Any("panic", v), slog.String("path", c.Request.URL.Path))
			s.Fail(c, errors.New("panic"))
		}
	}()
	c.Next()
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz answers 200 when every dependency answers within 2 s, 503 naming the
// failing ones. The reason stays in the log: no internal error text is shown.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	out, failed := gin.H{}, []string{}
	names := make([]string, 0, len(s.Checks))
	for name := range s.Checks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.Checks[name](ctx); err != nil {
			s.Log.Warn("readiness check failed", slog.String("check", name), slog.Any("error", err))
			out[name] = "down"
			failed = append(failed, name)
		} else {
			out[name] = "ok"
		}
	}
	if len(failed) > 0 {
		out["status"] = "unavailable"
		out["error"] = strings.Join(failed, ", ") + " not answering"
		c.JSON(http.StatusServiceUnavailable, out)
		return
	}
	out["status"] = "ok"
	c.JSON(http.StatusOK, out)
}
