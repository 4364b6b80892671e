// Package api serves the JSON API under /api/v1, behind an API key that auth
// checks. Each handler parses its input, calls one domain service method and
// answers JSON; errors are {"error", "field"?} with the status web.Fail maps.
package api

import (
	_ "embed"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/auth"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/delivery"
	"github.com/envoi/envoi/internal/gdpr"
	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/web"
)

// Handler serves the JSON API.
type Handler struct {
	Web       *web.Server
	Auth      *auth.Service
	Lists     *lists.Service
	Subscribe *subscribe.Service
	GDPR      *gdpr.Service
	Campaigns *campaign.Service
	Delivery  *delivery.Service
	Imports   *imports.Service
}

// OpenAPI is the API's description (OpenAPI 3.1), served at /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Register adds the API's routes, every one behind the API key check but the
// description of the API itself.
func (h *Handler) Register(r gin.IRouter) {
	r.GET("/api/v1/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", OpenAPI) })
	g := r.Group("/api/v1", h.requireAPIKey)
	g.GET("/lists", h.lists)
	g.POST("/lists", h.createList)
	g.PATCH("/lists/:slug", h.updateList)
	g.DELETE("/lists/:slug", h.deleteList)
	g.GET("/subscribers", h.subscribers)
	g.POST("/subscribers", h.createSubscriber)
	g.GET("/subscribers/:id", h.subscriber)
	g.GET("/subscribers/:id/consent", h.subscriberConsent)
	g.POST("/subscribers/:id/suppress", h.suppressSubscriber)
	g.POST("/subscribers/:id/unsubscribe", h.unsubscribeSubscriber)
	g.DELETE("/subscribers/:id", h.eraseSubscriber)
	g.GET("/subscribers/:id/export", h.exportSubscriber)
	g.POST("/subscribers/:id/restrict", h.restrictSubscriber)
	g.GET("/consent/verify", h.verifyConsent)
	g.GET("/register", h.register)
	g.POST("/campaigns", h.createCampaign)
	g.GET("/campaigns", h.campaigns)
	g.GET("/campaigns/:id", h.campaign)
	g.GET("/campaigns/:id/links", h.campaignLinks)
	g.PATCH("/campaigns/:id", h.updateCampaign)
	g.DELETE("/campaigns/:id", h.deleteCampaign)
	g.POST("/campaigns/:id/preview", h.previewCampaign)
	g.POST("/campaigns/:id/send", h.sendCampaign)
	g.POST("/campaigns/:id/pause", h.campaignAction(h.Campaigns.Pause))
	g.POST("/campaigns/:id/resume", h.campaignAction(h.Campaigns.Resume))
	g.POST("/campaigns/:id/cancel", h.campaignAction(h.Campaigns.Cancel))
	g.POST("/campaigns/:id/test", h.testCampaign)
	g.POST("/layouts", h.saveLayout)
	g.GET("/layouts", h.layouts)
	g.POST("/imports", h.createImport)
	g.GET("/imports", h.importsList)
	g.GET("/imports/:id", h.importStatus)
	g.GET("/apikeys", h.apiKeys)
	g.POST("/apikeys", h.createAPIKey)
	g.DELETE("/apikeys/:id", h.revokeAPIKey)
}

// requireAPIKey checks "Authorization: Bearer KEY"; 401 without a valid key.
func (h *Handler) requireAPIKey(c *gin.Context) {
	key, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	k, err := h.Auth.CheckAPIKey(c.Request.Context(), key)
	if err != nil {
		switch err {
		case auth.ErrNoAPIKey:
			c.Header("WWW-Authenticate", `Bearer realm="envoi"`)
		case auth.ErrInvalidAPIKey:
			c.Header("WWW-Authenticate", `Bearer realm="envoi", error="invalid_token"`)
		}
		h.Web.Fail(c, err)
		return
	}
	if err := auth.Authorize(k, c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead); err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Set("apikey", k)
	c.Next()
}

// actor is the API key making the request, for the audit log.
func actor(c *gin.Context) gdpr.Actor {
	a := gdpr.Actor{Who: "api key", IP: c.ClientIP(), Source: "api"}
	if k, ok := c.Get("apikey"); ok {
		if k, ok := k.(model.APIKey); ok {
			a.Who = "api key " + k.Name + " (" + k.Prefix + "…)"
		}
	}
	return a
}

// intParam reads an optional whole-number query parameter within [min, max].
func intParam(c *gin.Context, name string, def, min, max int64) (int64, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, apperr.FieldError(name, name+" must be a whole number from "+strconv.FormatInt(min, 10)+" to "+strconv.FormatInt(max, 10)+".")
	}
	return n, nil
}
