package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/gdpr"
	"github.com/envoi/envoi/internal/web"
)

// eraseSubscriber: DELETE /api/v1/subscribers/:id[?reason=…] erases the
// person's data everywhere (GDPR art. 17); 204. The reason (default request)
// goes to the consent and audit logs.
func (h *Handler) eraseSubscriber(c *gin.Context) {
	id, err := subscriberID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	if err := h.GDPR.Erase(c.Request.Context(), id, c.Query("reason"), actor(c)); err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// exportSubscriber: GET /api/v1/subscribers/:id/export?format=json|csv is
// everything held about the person (art. 15 and 20), as a download.
func (h *Handler) exportSubscriber(c *gin.Context) {
	id, err := subscriberID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	format := c.DefaultQuery("format", gdpr.FormatJSON)
	if err := gdpr.CheckFormat(format); err != nil {
		h.Web.Fail(c, err)
		return
	}
	x, err := h.GDPR.Export(c.Request.Context(), id, actor(c))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Attachment(c, gdpr.Encode(format, x))
}

// restrictSubscriber: POST /api/v1/subscribers/:id/restrict
// {"restricted": true|false, "reason"} restricts processing (art. 18): the
// data is kept and never mailed while restricted.
func (h *Handler) restrictSubscriber(c *gin.Context) {
	id, err := subscriberID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	var in struct {
		Restricted *bool  `json:"restricted"`
		Reason     string `json:"reason"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		h.Web.Fail(c, err)
		return
	}
	on := in.Restricted == nil || *in.Restricted
	sub, err := h.GDPR.Restrict(c.Request.Context(), id, on, in.Reason, actor(c))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sub)
}

// verifyConsent: GET /api/v1/consent/verify walks the consent log's hash
// chain (as envoi consent verify does): {"ok", "events", "head", "problem"?}.
func (h *Handler) verifyConsent(c *gin.Context) {
	r, err := h.GDPR.VerifyConsent(c.Request.Context())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	out := gin.H{"ok": r.Problem == "", "events": r.Events, "head": r.Head}
	if r.Problem != "" {
		out["problem"], out["seq"], out["event_id"] = r.Problem, r.Seq, r.ID
	}
	c.JSON(http.StatusOK, out)
}

// register: GET /api/v1/register[?format=json|html] is the record of
// processing activities (GDPR art. 30), generated from the settings and lists.
func (h *Handler) register(c *gin.Context) {
	r, err := h.GDPR.Register(c.Request.Context())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	if f := c.DefaultQuery("format", "json"); f != "json" {
		h.Web.Attachment(c, gdpr.EncodeRegister(f, r))
		return
	}
	c.JSON(http.StatusOK, r)
}
