package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/web"
)

func campaignID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "There is no campaign with this id.")
	}
	return id, nil
}

// createCampaign: POST /api/v1/campaigns → 201 with the draft.
func (h *Handler) createCampaign(c *gin.Context) {
	var d campaign.Draft
	if err := web.BindJSON(c, &d); err != nil {
		h.Web.Fail(c, err)
		return
	}
	camp, err := h.Campaigns.Create(c.Request.Context(), d)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, camp)
}

// campaign: GET /api/v1/campaigns/:id with status and counts.
func (h *Handler) campaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	camp, err := h.Campaigns.Campaign(c.Request.Context(), id)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, camp)
}

// sendCampaign: POST /api/v1/campaigns/:id/send, optional {"at": RFC3339}.
func (h *Handler) sendCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	var in struct {
		At *string `json:"at"`
	}
	if c.Request.ContentLength != 0 {
		if err := web.BindJSON(c, &in); err != nil {
			h.Web.Fail(c, err)
			return
		}
	}
	var at *time.Time
	if in.At != nil {
		t, err := time.Parse(time.RFC3339, *in.At)
		if err != nil {
			h.Web.Fail(c, apperr.FieldError("at", fmt.Sprintf("%q is not a time: give one like 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00 (RFC 3339).", *in.At)))
			return
		}
		at = &t
	}
	camp, err := h.Campaigns.Send(c.Request.Context(), id, at)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, camp)
}

// campaignAction serves pause, resume and cancel.
func (h *Handler) campaignAction(action func(context.Context, int64) (model.Campaign, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := campaignID(c)
		if err != nil {
			h.Web.Fail(c, err)
			return
		}
		camp, err := action(c.Request.Context(), id)
		if err != nil {
			h.Web.Fail(c, err)
			return
		}
		c.JSON(http.StatusOK, camp)
	}
}

// testCampaign: POST /api/v1/campaigns/:id/test {"emails":[…]} sends a test now.
func (h *Handler) testCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	var in struct {
		Emails []string `json:"emails"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		h.Web.Fail(c, err)
		return
	}
	if err := h.Delivery.SendTest(c.Request.Context(), id, in.Emails); err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "sent", "emails": len(in.Emails)})
}

// saveLayout: POST /api/v1/layouts {"name","html"} creates or replaces a layout.
func (h *Handler) saveLayout(c *gin.Context) {
	var in struct {
		Name string `json:"name"`
		HTML string `json:"html"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		h.Web.Fail(c, err)
		return
	}
	l, err := h.Campaigns.SaveLayout(c.Request.Context(), in.Name, in.HTML)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, l)
}

// layouts: GET /api/v1/layouts.
func (h *Handler) layouts(c *gin.Context) {
	ls, err := h.Campaigns.Layouts(c.Request.Context())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": ls})
}

// campaigns: GET /api/v1/campaigns[?status=S][&before=ID][&per_page=N], newest first.
func (h *Handler) campaigns(c *gin.Context) {
	perPage, err := intParam(c, "per_page", 50, 1, campaign.MaxPerPage)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	before, err := intParam(c, "before", 0, 0, math.MaxInt64)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	cs, next, err := h.Campaigns.Campaigns(c.Request.Context(), c.Query("status"), before, int(perPage))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	out := gin.H{"items": cs, "per_page": perPage}
	if next != 0 {
		out["next"] = next
	}
	c.JSON(http.StatusOK, out)
}

// updateCampaign: PATCH /api/v1/campaigns/:id changes a draft or scheduled campaign.
func (h *Handler) updateCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	var p campaign.Patch
	if err := web.BindJSON(c, &p); err != nil {
		h.Web.Fail(c, err)
		return
	}
	camp, err := h.Campaigns.Update(c.Request.Context(), id, p)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, camp)
}

// deleteCampaign: DELETE /api/v1/campaigns/:id deletes a draft.
func (h *Handler) deleteCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	if err := h.Campaigns.Delete(c.Request.Context(), id); err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// previewCampaign: POST /api/v1/campaigns/:id/preview {"subscriber_id"?} renders
// subject, HTML and text; no mail is sent and nothing is written.
func (h *Handler) previewCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	var in struct {
		SubscriberID int64 `json:"subscriber_id"`
	}
	if c.Request.ContentLength != 0 {
		if err := web.BindJSON(c, &in); err != nil {
			h.Web.Fail(c, err)
			return
		}
	}
	subject, html, text, err := h.Campaigns.Preview(c.Request.Context(), id, in.SubscriberID, h.Subscribe.UnsubscribeURL)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subject": subject, "html": html, "text": text})
}
