package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/model"
)

func campaignID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "There is no campaign with this id.")
	}
	return id, nil
}

// apiCreateCampaign: POST /api/v1/campaigns → 201 with the draft.
func (s *Server) apiCreateCampaign(c *gin.Context) {
	var d campaign.Draft
	if err := bindJSON(c, &d); err != nil {
		s.fail(c, err)
		return
	}
	camp, err := s.Campaigns.Create(c.Request.Context(), d)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, camp)
}

// apiCampaign: GET /api/v1/campaigns/:id with status and counts.
func (s *Server) apiCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	camp, err := s.Store.CampaignByID(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, camp)
}

// apiSendCampaign: POST /api/v1/campaigns/:id/send, optional {"at": RFC3339}.
func (s *Server) apiSendCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		At *time.Time `json:"at"`
	}
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &in); err != nil {
			s.fail(c, err)
			return
		}
	}
	camp, err := s.Campaigns.Send(c.Request.Context(), id, in.At)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, camp)
}

// apiCampaignAction serves pause, resume and cancel.
func (s *Server) apiCampaignAction(action func(context.Context, int64) (model.Campaign, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := campaignID(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		camp, err := action(c.Request.Context(), id)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, camp)
	}
}

// apiTestCampaign: POST /api/v1/campaigns/:id/test {"emails":[…]} sends a test now.
func (s *Server) apiTestCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in struct {
		Emails []string `json:"emails"`
	}
	if err := bindJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.Campaigns.SendTest(c.Request.Context(), id, in.Emails); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "sent", "emails": len(in.Emails)})
}

// unsubscribeTest: the link in test messages sent to non-subscribers.
func (s *Server) unsubscribeTest(c *gin.Context) {
	s.render(c, http.StatusOK, "error", gin.H{"Title": "This was a test message",
		"Message": "In the real campaign this link unsubscribes the reader with one click. Nothing was changed."})
}

// apiSaveLayout: POST /api/v1/layouts {"name","html"} creates or replaces a layout.
func (s *Server) apiSaveLayout(c *gin.Context) {
	var in struct {
		Name string `json:"name"`
		HTML string `json:"html"`
	}
	if err := bindJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	l, err := s.Campaigns.SaveLayout(c.Request.Context(), in.Name, in.HTML)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, l)
}

// apiLayouts: GET /api/v1/layouts.
func (s *Server) apiLayouts(c *gin.Context) {
	ls, err := s.Store.Layouts(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": ls})
}
