package web

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
func (s *Server) unsubscribePage(c *gin.Context) {
	tok := c.Param("token")
	sub, err := s.Subscribe.Subscription(c.Request.Context(), token.Unsubscribe, tok)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, "unsubscribe", gin.H{"Sub": sub, "Token": tok})
}

// unsubscribeSubmit: POST /unsubscribe/:token unsubscribes at once. It is the
// RFC 8058 one-click endpoint too: no login, cookie, CSRF token or redirect; the
// body is "List-Unsubscribe=One-Click" (urlencoded or multipart) or empty; 200.
func (s *Server) unsubscribeSubmit(c *gin.Context) {
	source := subscribe.SourceLink
	if isOneClick(c) {
		source = subscribe.SourceOneClick
	}
	sub, err := s.Subscribe.Unsubscribe(c.Request.Context(), c.Param("token"), source, c.ClientIP(), c.Request.UserAgent())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, "unsubscribed", gin.H{"Sub": sub})
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
