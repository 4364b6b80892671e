package public

import (
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/token"
)

// unsubscribePage: GET /unsubscribe/:token shows an Unsubscribe button; it
// changes nothing.
func (h *Handler) unsubscribePage(c *gin.Context) {
	tok := c.Param("token")
	sub, err := h.Subscribe.Subscription(c.Request.Context(), token.Unsubscribe, tok)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Render(c, http.StatusOK, "unsubscribe", gin.H{"Sub": sub, "Token": tok, "Lang": sub.ListLanguage})
}

// unsubscribeSubmit: POST /unsubscribe/:token unsubscribes at once. It is the
// RFC 8058 one-click endpoint too: no login, cookie, CSRF token or redirect; the
// body is "List-Unsubscribe=One-Click" (urlencoded or multipart) or empty; 200.
func (h *Handler) unsubscribeSubmit(c *gin.Context) {
	source := subscribe.SourceLink
	if isOneClick(c) {
		source = subscribe.SourceOneClick
	}
	sub, err := h.Subscribe.Unsubscribe(c.Request.Context(), c.Param("token"), source, c.ClientIP(), c.Request.UserAgent())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	h.Web.Render(c, http.StatusOK, "unsubscribed", gin.H{"Sub": sub, "Lang": sub.ListLanguage})
}

// isOneClick reports whether the body carries List-Unsubscribe=One-Click. The
// body does not change the outcome, only what the consent log records.
func isOneClick(c *gin.Context) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxFormBytes)
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
		return false
	}
	return strings.EqualFold(c.PostForm("List-Unsubscribe"), "One-Click")
}

// unsubscribeTest: the link in test messages sent to non-subscribers.
func (h *Handler) unsubscribeTest(c *gin.Context) {
	h.Web.Render(c, http.StatusOK, "error", gin.H{"Title": "This was a test message",
		"Message": "In the real campaign this link unsubscribes the reader with one click. Nothing was changed."})
}
