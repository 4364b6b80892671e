package api

import (
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/web"
)

// lists: GET /api/v1/lists.
func (h *Handler) lists(c *gin.Context) {
	ls, err := h.Lists.Lists(c.Request.Context())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": ls})
}

// createList: POST /api/v1/lists {"slug","name","description","proof_of_work"?} → 201.
func (h *Handler) createList(c *gin.Context) {
	var in struct {
		Slug         string `json:"slug"`
		Name         string `json:"name"`
		Description  string `json:"description"`
		ProofOfWork  bool   `json:"proof_of_work"`
		Language     string `json:"language"`
		OpenTracking bool   `json:"open_tracking"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		h.Web.Fail(c, err)
		return
	}
	l, err := h.Lists.Create(c.Request.Context(), lists.New{Slug: in.Slug, Name: in.Name, Description: in.Description, ProofOfWork: in.ProofOfWork, Language: in.Language,
		OpenTracking: in.OpenTracking})
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, l)
}

// updateList: PATCH /api/v1/lists/:slug {"name"?,"description"?,"proof_of_work"?}.
func (h *Handler) updateList(c *gin.Context) {
	var p lists.Patch
	if err := web.BindJSON(c, &p); err != nil {
		h.Web.Fail(c, err)
		return
	}
	l, err := h.Lists.Update(c.Request.Context(), c.Param("slug"), p)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

// deleteList: DELETE /api/v1/lists/:slug → 204; 409 while a campaign to it is in progress.
func (h *Handler) deleteList(c *gin.Context) {
	if err := h.Lists.Delete(c.Request.Context(), c.Param("slug")); err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// createSubscriber: POST /api/v1/subscribers starts the same double opt-in as
// the form, for each list; 202 whatever the address's state.
func (h *Handler) createSubscriber(c *gin.Context) {
	var in struct {
		Email  string            `json:"email"`
		Name   string            `json:"name"`
		Lists  []string          `json:"lists"`
		Fields map[string]string `json:"fields"`
		// TrackingConsent: the person gave the separate tracking consent (lists with open_tracking).
		TrackingConsent bool `json:"tracking_consent"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		h.Web.Fail(c, err)
		return
	}
	err := h.Subscribe.Signup(c.Request.Context(), in.Lists, subscribe.Request{Email: in.Email, Name: in.Name, Fields: in.Fields, TrackingConsent: in.TrackingConsent,
		Source: subscribe.SourceAPI, IP: c.ClientIP(), UserAgent: c.Request.UserAgent()})
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "pending", "message": "A confirmation email is on its way unless the address is already confirmed or was sent one in the last 15 minutes."})
}

// subscribers: GET /api/v1/subscribers?email=ADDR, or
// ?list=SLUG[&status=S][&after=ID | &page=N][&per_page=M].
func (h *Handler) subscribers(c *gin.Context) {
	ctx := c.Request.Context()
	if e, ok := c.GetQuery("email"); ok {
		items, err := h.Subscribe.Subscribers(ctx, e)
		if err != nil {
			h.Web.Fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"items": items})
		return
	}
	p := subscribe.Page{List: c.Query("list"), Status: c.Query("status")}
	if p.List == "" {
		h.Web.Fail(c, apperr.FieldError("list", "Give ?email=ADDRESS or ?list=SLUG."))
		return
	}
	number, err := intParam(c, "page", 1, 1, 1_000_000)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	perPage, err := intParam(c, "per_page", 100, 1, 1000)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	if p.After, err = intParam(c, "after", 0, 0, math.MaxInt64); err != nil {
		h.Web.Fail(c, err)
		return
	}
	p.Number, p.PerPage = int(number), int(perPage)
	pg, err := h.Subscribe.SubscribersOnList(ctx, p)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, pg)
}

func subscriberID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "There is no subscriber with this id.")
	}
	return id, nil
}

// subscriber: GET /api/v1/subscribers/:id.
func (h *Handler) subscriber(c *gin.Context) {
	id, err := subscriberID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	sub, err := h.Subscribe.Subscriber(c.Request.Context(), id)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sub)
}

// suppressSubscriber: POST /api/v1/subscribers/:id/suppress {"reason"}: a
// complaint or an objection, honoured at once.
func (h *Handler) suppressSubscriber(c *gin.Context) {
	id, err := subscriberID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := web.BindJSON(c, &in); err != nil {
		h.Web.Fail(c, err)
		return
	}
	sub, err := h.Subscribe.Suppress(c.Request.Context(), id, in.Reason, c.ClientIP(), c.Request.UserAgent())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sub)
}

// subscriberConsent: GET /api/v1/subscribers/:id/consent — the proof of
// consent: every event, oldest first, with the text shown.
func (h *Handler) subscriberConsent(c *gin.Context) {
	id, err := subscriberID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	events, err := h.Subscribe.ConsentRecord(c.Request.Context(), id)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_id": id, "events": events})
}

// unsubscribeSubscriber: POST /api/v1/subscribers/:id/unsubscribe {"lists":[…]}
// (every list when empty or no body).
func (h *Handler) unsubscribeSubscriber(c *gin.Context) {
	id, err := subscriberID(c)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	var in struct {
		Lists []string `json:"lists"`
	}
	if c.Request.ContentLength != 0 {
		if err := web.BindJSON(c, &in); err != nil {
			h.Web.Fail(c, err)
			return
		}
	}
	sub, err := h.Subscribe.UnsubscribeByAPI(c.Request.Context(), id, in.Lists, c.ClientIP(), c.Request.UserAgent())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sub)
}
