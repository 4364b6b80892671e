package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/web"
)

// apiKeys: GET /api/v1/apikeys lists the keys (never the keys themselves).
func (h *Handler) apiKeys(c *gin.Context) {
	ks, err := h.Auth.APIKeys(c.Request.Context())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": ks})
}

// createAPIKey: POST /api/v1/apikeys {"name","scope"?} → 201 with the key, shown once.
func (h *Handler) createAPIKey(c *gin.Context) {
	var in struct {
		Name  string `json:"name"`
		Scope string `json:"scope"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		h.Web.Fail(c, err)
		return
	}
	key, k, err := h.Auth.CreateAPIKey(c.Request.Context(), in.Name, in.Scope)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"key": key, "id": k.ID, "name": k.Name, "prefix": k.Prefix, "scope": k.Scope, "created_at": k.CreatedAt})
}

// revokeAPIKey: DELETE /api/v1/apikeys/:id revokes a key at once.
func (h *Handler) revokeAPIKey(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		h.Web.Fail(c, apperr.New(apperr.NotFound, "There is no API key with this id."))
		return
	}
	k, err := h.Auth.RevokeAPIKey(c.Request.Context(), id)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, k)
}
