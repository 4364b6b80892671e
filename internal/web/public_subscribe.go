package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/subscribe"
)

// MaxFormBytes bounds a public form body; real signups are a few hundred bytes.
const MaxFormBytes = 64 << 10

// signupForm is a decoded signup body.
type signupForm struct {
	Email   string
	Name    string
	Consent bool
	JSON    bool
}

var (
	errTooLarge    = &apperr.Error{Code: "too_large", Message: "The request is too large."}
	errUnsupported = &apperr.Error{Code: "unsupported_media", Message: "Send the form as application/x-www-form-urlencoded, multipart/form-data or application/json."}
	errBadJSON     = apperr.New(apperr.BadRequest, `The request body is not valid JSON: send {"email": "…", "name": "…", "consent": true}.`)
)

// decodeSignup reads a signup from a urlencoded, multipart or JSON body of at
// most MaxFormBytes. It never fails on missing fields: validation does that.
func decodeSignup(contentType string, body io.Reader) (signupForm, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/x-www-form-urlencoded", nil
	}
	if err != nil {
		return signupForm{}, errUnsupported
	}
	raw, err := io.ReadAll(io.LimitReader(body, MaxFormBytes+1))
	if err != nil {
		return signupForm{}, apperr.New(apperr.BadRequest, "The request body could not be read.")
	}
	if len(raw) > MaxFormBytes {
		return signupForm{}, errTooLarge
	}
	switch mt {
	case "application/json":
		var v struct {
			Email   *string `json:"email"`
			Name    *string `json:"name"`
			Consent any     `json:"consent"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return signupForm{JSON: true}, errBadJSON
		}
		f := signupForm{JSON: true, Consent: truthy(v.Consent)}
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
	return signupForm{}, errUnsupported
}

func formFromValues(v url.Values) signupForm {
	return signupForm{Email: v.Get("email"), Name: v.Get("name"), Consent: truthy(v.Get("consent"))}
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

// subscribeForm: GET /subscribe/:slug shows the signup form.
func (s *Server) subscribeForm(c *gin.Context) {
	l, err := s.listBySlug(c.Request.Context(), c.Param("slug"))
	if err != nil {
		s.fail(c, notFoundList(err))
		return
	}
	s.render(c, http.StatusOK, "subscribe", gin.H{"List": l, "ConsentText": s.Subscribe.ConsentText(l), "Form": signupForm{}, "Errors": map[string]string(nil)})
}

func notFoundList(err error) error {
	if apperr.ErrorCode(err) == apperr.NotFound {
		return apperr.New(apperr.NotFound, "There is no newsletter at this address. Check the link you followed.")
	}
	return err
}

// subscribeSubmit: POST /subscribe/:slug records a signup. Every valid request
// gets the same answer, whatever the address's state.
func (s *Server) subscribeSubmit(c *gin.Context) {
	ctx := c.Request.Context()
	l, err := s.listBySlug(ctx, c.Param("slug"))
	if err != nil {
		s.fail(c, notFoundList(err))
		return
	}
	f, err := decodeSignup(c.GetHeader("Content-Type"), c.Request.Body)
	if err != nil {
		s.fail(c, err)
		return
	}
	err = s.Subscribe.Signup(ctx, []model.List{l}, subscribe.Request{
		Email: f.Email, Name: f.Name, Consent: f.Consent, Source: subscribe.SourceForm,
		IP: c.ClientIP(), UserAgent: c.Request.UserAgent(),
	})
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code == apperr.Invalid && !f.JSON {
		s.render(c, http.StatusUnprocessableEntity, "subscribe", gin.H{"List": l, "ConsentText": s.Subscribe.ConsentText(l),
			"Form": f, "Errors": map[string]string{ae.Field: ae.Message}})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if f.JSON {
		c.JSON(http.StatusAccepted, gin.H{"status": "pending", "message": "If the address can receive this list, a confirmation email is on its way."})
		return
	}
	s.render(c, http.StatusOK, "check_inbox", gin.H{"List": l})
}
