package public

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/gdpr"
	"github.com/envoi/envoi/internal/subscribe"
)

// preferencesPage: GET /preferences/:token shows the person's lists, name,
// and the export and erase buttons. It changes nothing.
func (h *Handler) preferencesPage(c *gin.Context) {
	p, err := h.Subscribe.Preferences(c.Request.Context(), c.Param("token"))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.renderPreferences(c, http.StatusOK, p, nil, "")
}

func (h *Handler) renderPreferences(c *gin.Context, status int, p subscribe.Preferences, errs map[string]string, saved string) {
	data := gin.H{"P": p, "Token": c.Param("token"), "Lang": p.Language, "Saved": saved}
	t := h.Web.Translator(c, data)
	for k, m := range errs {
		errs[k] = t.T(m)
	}
	data["Errors"] = errs
	h.Web.Render(c, status, "preferences", data)
}

// preferencesSubmit: POST /preferences/:token saves the name and the lists
// to stay on (form fields name and list, repeated).
func (h *Handler) preferencesSubmit(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxFormBytes)
	if err := c.Request.ParseForm(); err != nil {
		h.Web.Fail(c, apperr.New(apperr.BadRequest, "The form data is malformed."))
		return
	}
	fields := map[string]string{}
	for k, vs := range c.Request.PostForm {
		if name, ok := strings.CutPrefix(k, "field."); ok && len(vs) > 0 {
			fields[name] = vs[0]
		}
	}
	p, err := h.Subscribe.UpdatePreferences(c.Request.Context(), c.Param("token"), subscribe.PreferencesUpdate{
		Name: c.Request.PostForm.Get("name"), Keep: c.Request.PostForm["list"], Fields: fields, Tracking: c.Request.PostForm["tracking"], IP: c.ClientIP(), UserAgent: c.Request.UserAgent(),
	})
	if e, ok := apperr.As(err); ok && e.Code == apperr.Invalid {
		h.renderPreferences(c, http.StatusUnprocessableEntity, p, map[string]string{e.Field: e.Message}, "")
		return
	}
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.renderPreferences(c, http.StatusOK, p, nil, "saved")
}

// preferencesExport: POST /preferences/:token/export?format=json|csv
// downloads everything held about the person.
func (h *Handler) preferencesExport(c *gin.Context) {
	format := c.DefaultQuery("format", c.PostForm("format"))
	if err := gdpr.CheckFormat(format); err != nil {
		h.Web.Fail(c, err)
		return
	}
	x, err := h.GDPR.ExportByToken(c.Request.Context(), c.Param("token"))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Attachment(c, gdpr.Encode(format, x))
}

// preferencesErase: POST /preferences/:token/erase with confirm=yes erases
// the person; without it, the page asks again (422).
func (h *Handler) preferencesErase(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxFormBytes)
	confirmed := strings.EqualFold(c.PostForm("confirm"), "yes")
	err := h.GDPR.EraseByToken(c.Request.Context(), c.Param("token"), confirmed)
	if e, ok := apperr.As(err); ok && e.Code == apperr.Invalid {
		p, perr := h.Subscribe.Preferences(c.Request.Context(), c.Param("token"))
		if perr != nil {
			h.Web.Fail(c, perr)
			return
		}
		h.renderPreferences(c, http.StatusUnprocessableEntity, p, map[string]string{e.Field: e.Message}, "")
		return
	}
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Render(c, http.StatusOK, "erased", gin.H{})
}

// preferencesEmail: POST /preferences/:token/email (email) mails a link to
// the new address; the page says the same whatever happens to it.
func (h *Handler) preferencesEmail(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxFormBytes)
	err := h.Subscribe.RequestEmailChange(c.Request.Context(), c.Param("token"), c.PostForm("email"), c.ClientIP())
	if e, ok := apperr.As(err); ok && e.Code == apperr.Invalid {
		p, perr := h.Subscribe.Preferences(c.Request.Context(), c.Param("token"))
		if perr != nil {
			h.Web.Fail(c, perr)
			return
		}
		h.renderPreferences(c, http.StatusUnprocessableEntity, p, map[string]string{"new_email": e.Message}, "")
		return
	}
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	p, err := h.Subscribe.Preferences(c.Request.Context(), c.Param("token"))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.renderPreferences(c, http.StatusOK, p, nil, "email")
}

// emailChangePage: GET /email/:token shows a button; it changes nothing.
func (h *Handler) emailChangePage(c *gin.Context) {
	if err := h.Subscribe.EmailChangeLink(c.Param("token")); err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Render(c, http.StatusOK, "email_change", gin.H{"Token": c.Param("token")})
}

// emailChangeSubmit: POST /email/:token applies the change of address.
func (h *Handler) emailChangeSubmit(c *gin.Context) {
	if err := h.Subscribe.ConfirmEmailChange(c.Request.Context(), c.Param("token"), c.ClientIP(), c.Request.UserAgent()); err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Render(c, http.StatusOK, "email_changed", gin.H{})
}
