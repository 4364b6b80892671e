// Package public serves the subscriber pages: the signup form, the confirm and
// unsubscribe pages, and the RFC 8058 one-click endpoint. No login, no cookies.
// Each handler parses input, calls one subscribe method and renders; GETs never
// change state.
package public

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/gdpr"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/web"
)

// MaxFormBytes bounds a public form body; real signups are a few hundred bytes.
const MaxFormBytes = 64 << 10

// signupForm is a decoded signup body.
type signupForm struct {
	Email   string
	Name    string
	Consent bool
	// Tracking is the optional, separate tracking box ("tracking_consent").
	Tracking bool
	JSON     bool
	// Trap is the honeypot field ("website"), hidden from people: a bot fills it.
	Trap bool
	// Altcha is the solved proof-of-work challenge (lists with proof_of_work).
	Altcha string
	// Fields are the custom fields: form keys "field.NAME", JSON "fields".
	Fields map[string]string
}

var errBadJSON = apperr.New(apperr.BadRequest, `The request body is not valid JSON: send {"email": "…", "name": "…", "consent": true}.`)

// decodeSignup reads a signup from a urlencoded, multipart or JSON body of at
// most MaxFormBytes. It never fails on missing fields: validation does that.
func decodeSignup(contentType string, body io.Reader) (signupForm, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/x-www-form-urlencoded", nil
	}
	if err != nil {
		return signupForm{}, unsupported(contentType)
	}
	raw, err := io.ReadAll(io.LimitReader(body, MaxFormBytes+1))
	if err != nil {
		return signupForm{}, apperr.New(apperr.BadRequest, "The request body could not be read.")
	}
	if len(raw) > MaxFormBytes {
		return signupForm{}, web.ErrTooLarge
	}
	switch mt {
	case "application/json":
		var v struct {
			Email    *string           `json:"email"`
			Name     *string           `json:"name"`
			Consent  any               `json:"consent"`
			Tracking any               `json:"tracking_consent"`
			Altcha   string            `json:"altcha"`
			Fields   map[string]string `json:"fields"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return signupForm{JSON: true}, errBadJSON
		}
		f := signupForm{JSON: true, Consent: truthy(v.Consent), Tracking: truthy(v.Tracking), Altcha: v.Altcha, Fields: v.Fields}
		if v.Email != nil {
			f.Email = *v.Email
		}
		if v.Name != nil {
			f.Name = *v.Name
		}
		return f, nil
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return signupForm{}, apperr.New(apperr.BadRequest, "The form data is malformed.")
		}
		return formFromValues(vals), nil
	case "multipart/form-data":
		req := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {mime.FormatMediaType(mt, params)}}, Body: io.NopCloser(strings.NewReader(string(raw)))}
		if err := req.ParseMultipartForm(MaxFormBytes); err != nil {
			return signupForm{}, apperr.New(apperr.BadRequest, "The form data is malformed.")
		}
		if req.MultipartForm != nil {
			defer req.MultipartForm.RemoveAll()
			return formFromValues(url.Values(req.MultipartForm.Value)), nil
		}
		return signupForm{}, nil
	}
	return signupForm{}, unsupported(contentType)
}

// unsupported names what the form endpoint takes and what it was sent.
func unsupported(contentType string) error {
	if contentType == "" {
		contentType = "none"
	}
	return apperr.New(apperr.Unsupported, "Send the form as application/x-www-form-urlencoded, multipart/form-data or application/json; the request's Content-Type was "+contentType+".")
}

func formFromValues(v url.Values) signupForm {
	f := signupForm{Email: v.Get("email"), Name: v.Get("name"), Consent: truthy(v.Get("consent")), Tracking: truthy(v.Get("tracking_consent")),
		Trap:   strings.TrimSpace(v.Get("website")) != "",
		Altcha: v.Get("altcha")}
	for k, vs := range v {
		if name, ok := strings.CutPrefix(k, "field."); ok && len(vs) > 0 {
			if f.Fields == nil {
				f.Fields = map[string]string{}
			}
			f.Fields[name] = vs[0]
		}
	}
	return f
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes", "on", "true", "1":
			return true
		}
	}
	return false
}

// Handler serves the subscriber pages.
type Handler struct {
	Web       *web.Server
	Subscribe *subscribe.Service
	GDPR      *gdpr.Service
	// FormOrigins, when set, are the only sites (besides Envoi's own, BaseOrigin)
	// whose pages may post the signup form (ENVOI_FORM_ORIGINS).
	FormOrigins []string
	BaseOrigin  string
}

var errForeignOrigin = apperr.New(apperr.Forbidden, "This form cannot be sent from that site.")

// checkOrigin refuses a signup posted by a browser from a site that is not
// allowed, when ENVOI_FORM_ORIGINS lists them. A request with no Origin (not a
// browser, or a same-origin GET-less client) is left to the rate limits.
func (h *Handler) checkOrigin(c *gin.Context) {
	if len(h.FormOrigins) == 0 {
		return
	}
	o := strings.ToLower(c.GetHeader("Origin"))
	if o == "" || c.GetHeader("Sec-Fetch-Site") == "same-origin" || o == h.BaseOrigin || slices.Contains(h.FormOrigins, o) {
		return
	}
	h.Web.Fail(c, errForeignOrigin)
}

// Register adds the subscriber pages' routes.
func (h *Handler) Register(r gin.IRouter) {
	r.GET("/subscribe/:slug", h.subscribeForm)
	r.POST("/subscribe/:slug", h.checkOrigin, h.subscribeSubmit)
	r.GET("/subscribe/:slug/challenge", h.challenge)
	r.GET("/confirm/:token", h.confirmPage)
	r.POST("/confirm/:token", h.confirmSubmit)
	r.POST("/confirm/:token/resend", h.confirmResend)
	r.GET("/unsubscribe/test", h.unsubscribeTest)
	r.POST("/unsubscribe/test", h.unsubscribeTest)
	r.GET("/unsubscribe/:token", h.unsubscribePage)
	r.POST("/unsubscribe/:token", h.unsubscribeSubmit)
	r.GET("/preferences/:token", h.preferencesPage)
	r.POST("/preferences/:token", h.preferencesSubmit)
	r.POST("/preferences/:token/export", h.preferencesExport)
	r.POST("/preferences/:token/erase", h.preferencesErase)
	r.POST("/preferences/:token/email", h.preferencesEmail)
	r.GET("/email/:token", h.emailChangePage)
	r.POST("/email/:token", h.emailChangeSubmit)
}

// subscribeForm: GET /subscribe/:slug shows the signup form.
func (h *Handler) subscribeForm(c *gin.Context) {
	f, err := h.Subscribe.Form(c.Request.Context(), c.Param("slug"))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Render(c, http.StatusOK, "subscribe", gin.H{"List": f.List, "ConsentText": f.ConsentText, "Notice": f.Notice, "TrackingText": f.TrackingText, "Form": signupForm{}, "Errors": map[string]string(nil),
		"Lang": f.List.Language})
}

// challenge: GET /subscribe/:slug/challenge is a fresh proof-of-work challenge
// for a list that asks for one (404 otherwise), in the ALTCHA JSON shape. Any
// site may fetch it (the form is embedded on the marketer's); it changes nothing.
func (h *Handler) challenge(c *gin.Context) {
	ch, err := h.Subscribe.Challenge(c.Request.Context(), c.Param("slug"))
	c.Header("Cache-Control", "no-store")
	c.Header("Access-Control-Allow-Origin", "*")
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ch)
}

// subscribeSubmit: POST /subscribe/:slug records a signup. Every valid request
// gets the same answer, whatever the address's state.
func (h *Handler) subscribeSubmit(c *gin.Context) {
	in, err := decodeSignup(c.GetHeader("Content-Type"), c.Request.Body)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	f, err := h.Subscribe.SignupForm(c.Request.Context(), c.Param("slug"), subscribe.Request{
		Email: in.Email, Name: in.Name, Consent: in.Consent, TrackingConsent: in.Tracking, Source: subscribe.SourceForm,
		IP: c.ClientIP(), UserAgent: c.Request.UserAgent(), Trap: in.Trap, ProofOfWork: in.Altcha, Fields: in.Fields,
	})
	if e, ok := apperr.As(err); ok && e.Code == apperr.Invalid && !in.JSON {
		errs := map[string]string{e.Field: e.Message}
		var all apperr.FieldErrors
		if errors.As(err, &all) {
			for _, fe := range all {
				errs[fe.Field] = fe.Message
			}
		}
		data := gin.H{"List": f.List, "ConsentText": f.ConsentText, "Notice": f.Notice, "TrackingText": f.TrackingText, "Form": in, "Lang": f.List.Language}
		t := h.Web.Translator(c, data)
		for k, m := range errs {
			errs[k] = t.T(m) // the services' messages are in English; the catalog has them
		}
		data["Errors"] = errs
		h.Web.Render(c, http.StatusUnprocessableEntity, "subscribe", data)
		return
	}
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	if in.JSON {
		c.JSON(http.StatusAccepted, gin.H{"status": "pending", "message": "If the address can receive this list, a confirmation email is on its way."})
		return
	}
	h.Web.Render(c, http.StatusOK, "check_inbox", gin.H{"List": f.List, "Lang": f.List.Language})
}
