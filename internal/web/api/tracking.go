package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// campaignLinks: GET /api/v1/campaigns/:id/links — the campaign's rewritten
// links by index with their clicks (aggregate; none without click tracking).
func (h *Handler) campaignLinks(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	ls, err := h.Campaigns.Links(c.Request.Context(), id)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": ls})
}
