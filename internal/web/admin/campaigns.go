package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/model"
)

// campaigns: GET /admin/campaigns?status=&before= — newest first, paged.
func (h *Handler) campaigns(c *gin.Context) {
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	items, next, err := h.Campaigns.Campaigns(c.Request.Context(), c.Query("status"), before, 25)
	if fe := formErrors(err); fe != nil {
		h.fail(c, err)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, "campaigns", gin.H{"Items": items, "Next": next, "Status": c.Query("status"),
		"Statuses": []string{model.CampaignDraft, model.CampaignScheduled, model.CampaignSending, model.CampaignPaused, model.CampaignSent, model.CampaignCancelled}})
}

// draftFromForm reads the editor's fields.
func draftFromForm(c *gin.Context) campaign.Draft {
	return campaign.Draft{Name: c.PostForm("name"), Subject: c.PostForm("subject"), Lists: c.PostFormArray("lists"),
		Format: c.PostForm("format"), Body: c.PostForm("body"), TextBody: c.PostForm("text_body"), Template: c.PostForm("template"),
		From: c.PostForm("from"), ReplyTo: c.PostForm("reply_to"), ClickTracking: checked(c, "click_tracking")}
}

// checked reads a checkbox of a form that always shows it.
func checked(c *gin.Context, name string) *bool {
	v := c.PostForm(name) != ""
	return &v
}

// editor renders the campaign editor, new or existing.
func (h *Handler) editor(c *gin.Context, status int, camp model.Campaign, d campaign.Draft, errs map[string]string) {
	ctx := c.Request.Context()
	ls, err := h.Lists.Lists(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	layouts, err := h.Campaigns.Layouts(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	if d.Format == "" {
		d.Format = "markdown"
	}
	selected := map[string]bool{}
	for _, s := range d.Lists {
		selected[s] = true
	}
	h.render(c, status, "campaign_edit", gin.H{"Campaign": camp, "Draft": d, "Errors": errs, "Lists": ls, "Selected": selected,
		"Layouts": layouts, "DefaultFrom": h.Settings.From, "ClickTracking": d.ClickTracking == nil || *d.ClickTracking})
}

// newCampaign: GET /admin/campaigns/new (or ?from=ID to start from a copy).
func (h *Handler) newCampaign(c *gin.Context) {
	h.editor(c, http.StatusOK, model.Campaign{}, campaign.Draft{Template: "default"}, nil)
}

// createCampaign: POST /admin/campaigns saves a draft.
func (h *Handler) createCampaign(c *gin.Context) {
	d := draftFromForm(c)
	camp, err := h.Campaigns.Create(c.Request.Context(), d)
	if fe := formErrors(err); fe != nil {
		h.editor(c, http.StatusUnprocessableEntity, model.Campaign{}, d, fe)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("campaign=%d", camp.ID))
	h.flash(c, "Draft saved. Check the preview, send yourself a test, then send it.")
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/campaigns/%d", camp.ID))
}

func draftOf(camp model.Campaign) campaign.Draft {
	return campaign.Draft{Name: camp.Name, Subject: camp.Subject, Lists: camp.Lists, Format: camp.Format, Body: camp.Body,
		TextBody: camp.TextBody, Template: camp.Template, From: camp.From, ReplyTo: camp.ReplyTo, ClickTracking: &camp.ClickTracking}
}

// campaign: GET /admin/campaigns/:id — the editor for drafts and scheduled
// campaigns, else the progress page; both with the preview and audience.
func (h *Handler) campaign(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	camp, err := h.Campaigns.Campaign(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	if u, _ := currentUser(c); c.Query("edit") != "" && editable(camp) && u.Role != model.RoleViewer {
		h.editor(c, http.StatusOK, camp, draftOf(camp), nil)
		return
	}
	h.campaignPage(c, http.StatusOK, camp, nil)
}

func editable(camp model.Campaign) bool {
	return camp.Status == model.CampaignDraft || camp.Status == model.CampaignScheduled
}

func (h *Handler) campaignPage(c *gin.Context, status int, camp model.Campaign, errs map[string]string) {
	u, _ := currentUser(c)
	audience, err := h.Campaigns.Audience(c.Request.Context(), camp.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	links, err := h.Campaigns.Links(c.Request.Context(), camp.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, status, "campaign", gin.H{"Campaign": camp, "Audience": audience, "Links": links, "Errors": errs, "Editable": editable(camp),
		"CanEdit": u.Role != model.RoleViewer, "Progress": progressOf(camp, time.Now()), "Zone": time.Local.String(),
		"TestAddress": u.Email})
}

// updateCampaign: POST /admin/campaigns/:id saves the editor.
func (h *Handler) updateCampaign(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	d := draftFromForm(c)
	camp, err := h.Campaigns.Update(c.Request.Context(), id, campaign.Patch{Name: &d.Name, Subject: &d.Subject, Lists: &d.Lists,
		Format: &d.Format, Body: &d.Body, TextBody: &d.TextBody, Template: &d.Template, From: &d.From, ReplyTo: &d.ReplyTo,
		ClickTracking: d.ClickTracking})
	if fe := formErrors(err); fe != nil && apperr.ErrorCode(err) == apperr.Invalid {
		old, err2 := h.Campaigns.Campaign(c.Request.Context(), id)
		if err2 != nil {
			h.fail(c, err2)
			return
		}
		h.editor(c, http.StatusUnprocessableEntity, old, d, fe)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.flash(c, "Saved.")
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/campaigns/%d", camp.ID))
}

// previewCSP: the preview is the campaign's own HTML, shown in a sandboxed
// iframe; its response forbids script and everything but inline styles and
// remote images, whatever the body holds.
const previewCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"

// preview: GET /admin/campaigns/:id/preview — the rendered HTML with sample
// data, for the sandboxed iframe. Nothing is sent or written.
func (h *Handler) preview(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	_, html, _, err := h.Campaigns.Preview(c.Request.Context(), id, 0, nil)
	if err != nil {
		h.fail(c, err)
		return
	}
	servePreview(c, html)
}

// servePreview writes a rendered message for a sandboxed iframe of Envoi's
// own pages, under the sandbox CSP: whatever it holds, no script runs.
func servePreview(c *gin.Context, html string) {
	c.Header("Content-Security-Policy", previewCSP)
	c.Header("X-Frame-Options", "SAMEORIGIN")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(html))
}

// livePreview: POST /admin/campaigns/preview — the editor's fields rendered
// (htmx, as the marketer types): an iframe with the HTML in srcdoc, sandboxed.
func (h *Handler) livePreview(c *gin.Context) {
	subject, html, _, err := h.Campaigns.PreviewDraft(c.Request.Context(), draftFromForm(c))
	if fe := formErrors(err); fe != nil {
		h.render(c, http.StatusOK, "preview", gin.H{"Errors": fe})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, "preview", gin.H{"Subject": subject, "HTML": html})
}

// Progress is what the progress bar shows.
type Progress struct {
	Total, Done, Sent, Failed, Skipped int64
	Percent                            int64
	Rate                               float64 // messages a second since the start
	ETA                                string
	Live                               bool // still moving: the page polls
}

func progressOf(camp model.Campaign, now time.Time) Progress {
	n := camp.Counts
	p := Progress{Total: n.Total, Sent: n.Sent, Failed: n.Failed, Skipped: n.Skipped}
	p.Done = n.Sent + n.Failed + n.Skipped
	if p.Total > 0 {
		p.Percent = p.Done * 100 / p.Total
	}
	if camp.Status == model.CampaignSent {
		p.Percent = 100
	}
	p.Live = camp.Status == model.CampaignSending || camp.Status == model.CampaignScheduled
	if camp.StartedAt != nil && p.Done > 0 {
		end := now
		if camp.FinishedAt != nil {
			end = *camp.FinishedAt
		}
		if secs := end.Sub(*camp.StartedAt).Seconds(); secs > 0 {
			p.Rate = float64(p.Done) / secs
		}
		if p.Live && p.Rate > 0 && p.Total > p.Done {
			p.ETA = (time.Duration(float64(p.Total-p.Done)/p.Rate) * time.Second).Round(time.Second).String()
		}
	}
	return p
}

// progress: GET /admin/campaigns/:id/progress — the progress fragment htmx
// polls every two seconds while the campaign moves.
func (h *Handler) progress(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	camp, err := h.Campaigns.Campaign(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	p := progressOf(camp, time.Now())
	if !p.Live && c.GetHeader("HX-Request") == "true" {
		// It stopped moving (sent, paused, cancelled): reload the page once so
		// that its buttons match the new status.
		c.Header("HX-Refresh", "true")
	}
	h.render(c, http.StatusOK, "progress", gin.H{"Campaign": camp, "Progress": p})
}

// testCampaign: POST /admin/campaigns/:id/test (emails, comma-separated).
func (h *Handler) testCampaign(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	var emails []string
	for _, e := range strings.FieldsFunc(c.PostForm("emails"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		emails = append(emails, strings.TrimSpace(e))
	}
	err := h.Delivery.SendTest(c.Request.Context(), id, emails)
	if fe := formErrors(err); fe != nil {
		camp, err2 := h.Campaigns.Campaign(c.Request.Context(), id)
		if err2 != nil {
			h.fail(c, err2)
			return
		}
		h.campaignPage(c, http.StatusUnprocessableEntity, camp, map[string]string{"emails": joinErrors(fe)})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("campaign=%d to=%d", id, len(emails)))
	h.flash(c, fmt.Sprintf("Test sent to %d address(es).", len(emails)))
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/campaigns/%d", id))
}

func joinErrors(fe map[string]string) string {
	var parts []string
	for _, m := range fe {
		parts = append(parts, m)
	}
	return strings.Join(parts, " ")
}

// sendCampaign: POST /admin/campaigns/:id/send (confirm = the number of
// recipients the page showed; at = an optional local date-time to schedule).
func (h *Handler) sendCampaign(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	ctx := c.Request.Context()
	camp, err := h.Campaigns.Campaign(ctx, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	audience, err := h.Campaigns.Audience(ctx, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	if c.PostForm("confirm") != strconv.FormatInt(audience, 10) {
		h.campaignPage(c, http.StatusUnprocessableEntity, camp, map[string]string{"confirm": fmt.Sprintf(
			"Type the number of recipients (%d) to confirm the send.", audience)})
		return
	}
	var at *time.Time
	if v := strings.TrimSpace(c.PostForm("at")); v != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", v, time.Local)
		if err != nil {
			h.campaignPage(c, http.StatusUnprocessableEntity, camp, map[string]string{"at": "Give the date and time like 2026-12-24T09:00."})
			return
		}
		at = &t
	}
	sent, err := h.Campaigns.Send(ctx, id, at)
	if fe := formErrors(err); fe != nil && apperr.ErrorCode(err) == apperr.Invalid {
		h.campaignPage(c, http.StatusUnprocessableEntity, camp, fe)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("campaign=%d recipients=%d", id, audience))
	msg := fmt.Sprintf("Sending to %d recipient(s).", audience)
	if sent.Status == model.CampaignScheduled && sent.SendAt != nil {
		msg = fmt.Sprintf("Scheduled for %s (%d recipient(s) now).", sent.SendAt.In(time.Local).Format("2006-01-02 15:04 MST"), audience)
	}
	for _, w := range sent.Warnings {
		msg += " " + w
	}
	h.flash(c, msg)
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/campaigns/%d", id))
}

// campaignAction serves pause, resume and cancel.
func (h *Handler) campaignAction(action func(context.Context, int64) (model.Campaign, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := paramID(c)
		if !ok {
			h.fail(c, errNotFound)
			return
		}
		camp, err := action(c.Request.Context(), id)
		if err != nil {
			h.fail(c, err)
			return
		}
		h.flash(c, "The campaign is now "+camp.Status+".")
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/campaigns/%d", id))
	}
}

// cloneCampaign: POST /admin/campaigns/:id/clone makes a new draft from it.
func (h *Handler) cloneCampaign(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	camp, err := h.Campaigns.Campaign(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := draftOf(camp)
	d.Name = "Copy of " + d.Name
	if len([]rune(d.Name)) > 200 {
		d.Name = string([]rune(d.Name)[:200])
	}
	cp, err := h.Campaigns.Create(c.Request.Context(), d)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("campaign=%d from=%d", cp.ID, id))
	h.flash(c, "A copy was made as a new draft.")
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/campaigns/%d", cp.ID))
}

// deleteCampaign: POST /admin/campaigns/:id/delete (drafts only).
func (h *Handler) deleteCampaign(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	if err := h.Campaigns.Delete(c.Request.Context(), id); err != nil {
		h.fail(c, err)
		return
	}
	h.flash(c, "Draft deleted.")
	c.Redirect(http.StatusSeeOther, "/admin/campaigns")
}

// layouts: GET /admin/layouts.
func (h *Handler) layouts(c *gin.Context) {
	ls, err := h.Campaigns.Layouts(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, "layouts", gin.H{"Layouts": ls})
}

// layout: GET /admin/layouts/:name — the source (read-only for default).
func (h *Handler) layout(c *gin.Context) {
	ls, err := h.Campaigns.Layouts(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, l := range ls {
		if l.Name == c.Param("name") {
			h.render(c, http.StatusOK, "layout_edit", gin.H{"Layout": l, "ReadOnly": l.Name == "default"})
			return
		}
	}
	h.fail(c, errNotFound)
}

// layoutPreview: GET /admin/layouts/:name/preview — the layout around a
// sample body, for the sandboxed iframe of its page.
func (h *Handler) layoutPreview(c *gin.Context) {
	html, err := h.Campaigns.PreviewLayout(c.Request.Context(), c.Param("name"))
	if apperr.ErrorCode(err) == apperr.Invalid {
		h.fail(c, errNotFound)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	servePreview(c, html)
}

// saveLayout: POST /admin/layouts (name, html).
func (h *Handler) saveLayout(c *gin.Context) {
	l, err := h.Campaigns.SaveLayout(c.Request.Context(), c.PostForm("name"), c.PostForm("html"))
	if fe := formErrors(err); fe != nil {
		h.render(c, http.StatusUnprocessableEntity, "layout_edit", gin.H{"Layout": model.Layout{Name: c.PostForm("name"), HTML: c.PostForm("html")},
			"Errors": fe, "New": true})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", "layout="+l.Name)
	h.flash(c, "Layout saved.")
	c.Redirect(http.StatusSeeOther, "/admin/layouts/"+l.Name)
}
