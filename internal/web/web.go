// Package web serves Envoi over HTTP with gin: public subscriber pages, the JSON
// API and health checks. Handlers parse input, make one domain call and render;
// they hold no SQL and no business rules. Error codes map to statuses in one table.
package web

import (
	"context"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/static"
	"github.com/envoi/envoi/templates"
)

// Server holds what handlers need. Build it once in cmd/envoi.
type Server struct {
	Store          *store.Store
	Subscribe      *subscribe.Service
	Campaigns      *campaign.Service
	Log            *slog.Logger
	Org            string
	PrivacyContact string
	PostalAddress  string
	// Checks are run by /readyz, by name (postgres, redis).
	Checks map[string]func(context.Context) error

	pages map[string]*template.Template
	lists listCache
}

// Handler builds the HTTP handler with every route.
func (s *Server) Handler() (http.Handler, error) {
	if err := s.parsePages(); err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(nil); err != nil {
		return nil, err
	}
	r.Use(s.recoverer)

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	staticFS, _ := fs.Sub(static.FS, ".")
	r.StaticFS("/static", http.FS(staticFS))

	// Public subscriber pages: no login, no cookies.
	r.GET("/subscribe/:slug", s.subscribeForm)
	r.POST("/subscribe/:slug", s.subscribeSubmit)
	r.GET("/confirm/:token", s.confirmPage)
	r.POST("/confirm/:token", s.confirmSubmit)
	r.POST("/confirm/:token/resend", s.confirmResend)
	r.GET("/unsubscribe/test", s.unsubscribeTest)
	r.POST("/unsubscribe/test", s.unsubscribeTest)
	r.GET("/unsubscribe/:token", s.unsubscribePage)
	r.POST("/unsubscribe/:token", s.unsubscribeSubmit)

	api := r.Group("/api/v1", s.requireAPIKey)
	api.GET("/lists", s.apiLists)
	api.POST("/lists", s.apiCreateList)
	api.GET("/subscribers", s.apiSubscribers)
	api.POST("/subscribers", s.apiCreateSubscriber)
	api.POST("/campaigns", s.apiCreateCampaign)
	api.GET("/campaigns/:id", s.apiCampaign)
	api.POST("/campaigns/:id/send", s.apiSendCampaign)
	api.POST("/campaigns/:id/pause", s.apiCampaignAction(s.Campaigns.Pause))
	api.POST("/campaigns/:id/resume", s.apiCampaignAction(s.Campaigns.Resume))
	api.POST("/campaigns/:id/cancel", s.apiCampaignAction(s.Campaigns.Cancel))
	api.POST("/campaigns/:id/test", s.apiTestCampaign)
	api.POST("/layouts", s.apiSaveLayout)
	api.GET("/layouts", s.apiLayouts)

	r.NoRoute(func(c *gin.Context) { s.fail(c, apperr.New(apperr.NotFound, "There is nothing at this address.")) })
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, &apperr.Error{Code: "method_not_allowed", Message: "This address does not accept " + c.Request.Method + " requests."})
	})
	return r, nil
}

func (s *Server) parsePages() error {
	s.pages = map[string]*template.Template{}
	names, err := fs.Glob(templates.FS, "pages/*.html.tmpl")
	if err != nil {
		return err
	}
	for _, n := range names {
		t, err := template.ParseFS(templates.FS, "partials/*.html.tmpl", n)
		if err != nil {
			return err
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(n, "pages/"), ".html.tmpl")] = t
	}
	return nil
}

// render writes a page. data gets the footer fields added.
func (s *Server) render(c *gin.Context, status int, page string, data gin.H) {
	data["Org"], data["PrivacyContact"], data["PostalAddress"] = s.Org, s.PrivacyContact, s.PostalAddress
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

// statuses maps error codes to HTTP statuses; anything unknown is a 500.
var statuses = map[string]int{
	apperr.BadRequest:    http.StatusBadRequest,
	apperr.Invalid:       http.StatusUnprocessableEntity,
	apperr.NotFound:      http.StatusNotFound,
	apperr.Conflict:      http.StatusConflict,
	apperr.Unauthorized:  http.StatusUnauthorized,
	apperr.Expired:       http.StatusGone,
	apperr.Unavailable:   http.StatusServiceUnavailable,
	"method_not_allowed": http.StatusMethodNotAllowed,
	"too_large":          http.StatusRequestEntityTooLarge,
	"unsupported_media":  http.StatusUnsupportedMediaType,
}

var titles = map[int]string{
	http.StatusBadRequest:            "This link does not work",
	http.StatusNotFound:              "Page not found",
	http.StatusGone:                  "This link has expired",
	http.StatusServiceUnavailable:    "Please try again in a moment",
	http.StatusInternalServerError:   "Something went wrong on our side",
	http.StatusMethodNotAllowed:      "Not allowed",
	http.StatusRequestEntityTooLarge: "Too much data",
	http.StatusUnsupportedMediaType:  "Unsupported request",
}

// fail answers err as JSON under /api/ or for JSON requests, as a page otherwise.
// Only internal errors are logged; their detail is never shown.
func (s *Server) fail(c *gin.Context, err error) {
	s.failPage(c, err, gin.H{})
}

func (s *Server) failPage(c *gin.Context, err error, extra gin.H) {
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
	if wantsJSON(c) {
		body := gin.H{"error": e.Message}
		if e.Field != "" {
			body["field"] = e.Field
		}
		c.AbortWithStatusJSON(status, body)
		return
	}
	extra["Title"], extra["Message"] = titles[status], e.Message
	if extra["Title"] == "" {
		extra["Title"] = "Something is not right"
	}
	s.render(c, status, "error", extra)
	c.Abort()
}

func isUnavailable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "bad connection") || strings.Contains(err.Error(), "the database system is")
}

func wantsJSON(c *gin.Context) bool {
	return strings.HasPrefix(c.Request.URL.Path, "/api/") ||
		strings.HasPrefix(c.ContentType(), "application/json") ||
		(strings.Contains(c.GetHeader("Accept"), "application/json") && !strings.Contains(c.GetHeader("Accept"), "text/html"))
}

func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Log.Error("panic", slog.Any("panic", v), slog.String("path", c.Request.URL.Path))
			s.fail(c, errors.New("panic"))
		}
	}()
	c.Next()
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz answers 200 when every dependency answers within 2 s, 503 naming the failing ones.
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
			out[name] = "down: " + err.Error()
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
