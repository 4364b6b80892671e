package public

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/token"
)

// confirmPage: GET /confirm/:token shows a Confirm button. It changes nothing:
// mail scanners open links.
func (h *Handler) confirmPage(c *gin.Context) {
	tok := c.Param("token")
	sub, err := h.Subscribe.Subscription(c.Request.Context(), token.Confirm, tok)
	if err != nil {
		h.failToken(c, err, tok)
		return
	}
	h.Web.Render(c, http.StatusOK, "confirm", gin.H{"Sub": sub, "Token": tok, "Lang": sub.ListLanguage})
}

// confirmSubmit: POST /confirm/:token confirms; repeating it is harmless.
func (h *Handler) confirmSubmit(c *gin.Context) {
	tok := c.Param("token")
	sub, err := h.Subscribe.Confirm(c.Request.Context(), tok, c.ClientIP(), c.Request.UserAgent())
	if err != nil {
		h.failToken(c, err, tok)
		return
	}
	h.Web.Render(c, http.StatusOK, "confirmed", gin.H{"Sub": sub, "Lang": sub.ListLanguage})
}

// confirmResend: POST /confirm/:token/resend mails a new link for an expired one.
func (h *Handler) confirmResend(c *gin.Context) {
	if err := h.Subscribe.ResendConfirmation(c.Request.Context(), c.Param("token"), c.ClientIP()); err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Render(c, http.StatusOK, "resent", gin.H{})
}

// failToken shows a token error; an expired confirm link offers a new one.
func (h *Handler) failToken(c *gin.Context, err error, tok string) {
	extra := gin.H{}
	if errors.Is(err, subscribe.ErrExpiredLink) {
		extra["ResendToken"] = tok
	}
	h.Web.FailPage(c, err, extra)
}
