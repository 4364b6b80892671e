// Package hooks serves the relays' bounce and complaint webhooks:
// POST /webhooks/{ses,postmark,sendgrid,mailgun}. Each request is
// authenticated as its provider documents (internal/webhook), its events are
// handed to the bounce policy (feedback.Service), and the answer is JSON:
// 200 when applied, 400 for a malformed body, 401 for a missing, bad, stale or
// replayed signature, 404 for a provider that is not configured, 503 when
// storage failed (the relay retries; a redelivered event counts once).
package hooks

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/feedback"
	"github.com/envoi/envoi/internal/webhook"
)

// MaxBody bounds a webhook request's body.
const MaxBody = 1 << 20

// Handler serves the webhooks.
type Handler struct {
	// Providers by name; a provider that is not configured is absent (404).
	Providers map[string]webhook.Provider
	Feedback  *feedback.Service
	// Client visits SNS SubscribeURLs (nil: 10 s timeout, no redirects).
	Client *http.Client
	Log    *slog.Logger
}

// Register adds the route.
func (h *Handler) Register(r gin.IRouter) {
	r.POST("/webhooks/:provider", h.receive)
}

func (h *Handler) receive(c *gin.Context) {
	p, ok := h.Providers[c.Param("provider")]
	if !ok {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "No webhook is configured for this provider."})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody))
	if err != nil {
		c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"error": "The body is larger than 1 MiB."})
		return
	}
	ctx := c.Request.Context()
	evs, err := p.Parse(ctx, c.Request.Header, body)
	var sub *webhook.SubscribeRequest
	switch {
	case errors.As(err, &sub):
		if err := sub.Confirm(ctx, h.Client); err != nil {
			h.Log.Warn("webhook: confirming the SNS subscription failed", slog.String("provider", p.Name()), slog.Any("error", err))
			c.AbortWithStatusJSON(http.StatusBadGateway, gin.H{"error": "Could not confirm the subscription; SNS will ask again."})
			return
		}
		h.Log.Info("webhook: SNS subscription confirmed", slog.String("provider", p.Name()))
		c.JSON(http.StatusOK, gin.H{"confirmed": true})
		return
	case errors.Is(err, webhook.ErrUnauthorized):
		h.Log.Warn("webhook: refused", slog.String("provider", p.Name()), slog.Any("error", err))
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "The request is not authenticated (missing, bad, stale or replayed signature or credentials)."})
		return
	case errors.Is(err, webhook.ErrInvalid):
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "The body is not a valid " + p.Name() + " webhook payload."})
		return
	case err != nil:
		h.Log.Warn("webhook: could not check the request", slog.String("provider", p.Name()), slog.Any("error", err))
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "The request could not be checked now; try again."})
		return
	}
	res, err := h.Feedback.Handle(ctx, evs, feedback.Authenticated)
	if err != nil {
		if f, ok := p.(webhook.Forgetter); ok {
			f.Forget(c.Request.Header, body)
		}
		h.Log.Error("webhook: applying events failed; the relay will retry", slog.String("provider", p.Name()), slog.Any("error", err))
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "The events could not be stored now; try again."})
		return
	}
	if len(evs) > 0 {
		h.Log.Info("webhook: events applied", slog.String("provider", p.Name()), slog.Int("events", len(evs)),
			slog.Int("applied", res.Applied), slog.Int("unmatched", res.Unmatched))
	}
	c.JSON(http.StatusOK, gin.H{"events": len(evs), "applied": res.Applied, "unmatched": res.Unmatched})
}
