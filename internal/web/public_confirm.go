package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/token"
)

// confirmPage: GET /confirm/:token shows a Confirm button. It changes nothing:
// mail scanners open links.
func (s *Server) confirmPage(c *gin.Context) {
	tok := c.Param("token")
	sub, err := s.Subscribe.Subscription(c.Request.Context(), token.Confirm, tok)
	if err != nil {
		s.failToken(c, err, tok)
		return
	}
	s.render(c, http.StatusOK, "confirm", gin.H{"Sub": sub, "Token": tok})
}

// confirmSubmit: POST /confirm/:token confirms; repeating it is harmless.
func (s *Server) confirmSubmit(c *gin.Context) {
	tok := c.Param("token")
	res, err := s.Subscribe.Confirm(c.Request.Context(), tok, c.ClientIP(), c.Request.UserAgent())
	if err != nil {
		s.failToken(c, err, tok)
		return
	}
	s.render(c, http.StatusOK, "confirmed", gin.H{"Sub": res.Subscription})
}

// confirmResend: POST /confirm/:token/resend mails a new link for an expired one.
func (s *Server) confirmResend(c *gin.Context) {
	if err := s.Subscribe.ResendConfirmation(c.Request.Context(), c.Param("token")); err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, "resent", gin.H{})
}

// failToken shows a token error; an expired confirm link offers a new one.
func (s *Server) failToken(c *gin.Context, err error, tok string) {
	extra := gin.H{}
	if errors.Is(err, subscribe.ErrExpiredLink) {
		extra["ResendToken"] = tok
	}
	s.failPage(c, err, extra)
}
