package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/gdpr"
)

// actor is the signed-in admin, for the audit log (the GDPR service records
// its own entries, with the reason).
func actor(c *gin.Context) gdpr.Actor {
	u, _ := currentUser(c)
	return gdpr.Actor{UserID: &u.ID, Who: u.Email, IP: c.ClientIP(), Source: "admin"}
}

// exportSubscriber: GET /admin/subscribers/:id/export?format=json|csv
// downloads everything held about the person (art. 15 and 20).
func (h *Handler) exportSubscriber(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	format := c.DefaultQuery("format", gdpr.FormatJSON)
	if err := gdpr.CheckFormat(format); err != nil {
		h.fail(c, err)
		return
	}
	x, err := h.GDPR.Export(c.Request.Context(), id, actor(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Web.Attachment(c, gdpr.Encode(format, x))
}

// restrictSubscriber: POST /admin/subscribers/:id/restrict (restricted=yes|no,
// reason) restricts processing (art. 18) or lifts it.
func (h *Handler) restrictSubscriber(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	on := c.PostForm("restricted") != "no"
	if _, err := h.GDPR.Restrict(c.Request.Context(), id, on, c.PostForm("reason"), actor(c)); err != nil {
		h.fail(c, err)
		return
	}
	if on {
		h.flash(c, "Processing restricted: the data is kept and nothing is mailed to this person until you lift it.")
	} else {
		h.flash(c, "Restriction lifted.")
	}
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/subscribers/%d", id))
}

var errTypeErase = apperr.FieldError("confirm", "Type erase to confirm: this cannot be undone.")

// eraseSubscriber: POST /admin/subscribers/:id/erase (reason, confirm=erase)
// erases the person's data everywhere (art. 17).
func (h *Handler) eraseSubscriber(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	if strings.TrimSpace(c.PostForm("confirm")) != "erase" {
		h.fail(c, errTypeErase)
		return
	}
	if err := h.GDPR.Erase(c.Request.Context(), id, c.PostForm("reason"), actor(c)); err != nil {
		h.fail(c, err)
		return
	}
	h.flash(c, fmt.Sprintf("Subscriber %d erased: their data is gone; the consent log keeps its events without the address, and the address stays suppressed.", id))
	c.Redirect(http.StatusSeeOther, "/admin/subscribers")
}

// register: GET /admin/register shows the record of processing activities (art. 30).
func (h *Handler) register(c *gin.Context) {
	r, err := h.GDPR.Register(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, "register", gin.H{"Register": r})
}

// registerDownload: GET /admin/register/download?format=html|json.
func (h *Handler) registerDownload(c *gin.Context) {
	r, err := h.GDPR.Register(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Web.Attachment(c, gdpr.EncodeRegister(c.DefaultQuery("format", "html"), r))
}
