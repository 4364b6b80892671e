package admin

import (
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/subscribe"
)

// dashboard: GET /admin/ — subscribers per list and status, growth over 90
// days, recent campaigns with their progress.
func (h *Handler) dashboard(c *gin.Context) {
	ctx := c.Request.Context()
	stats, asOf, err := h.Lists.Stats(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	growth, err := h.Lists.Growth(ctx, 90)
	if err != nil {
		h.fail(c, err)
		return
	}
	recent, _, err := h.Campaigns.Campaigns(ctx, "", 0, 5)
	if err != nil {
		h.fail(c, err)
		return
	}
	var total model.ListStats
	for _, s := range stats {
		total.Confirmed += s.Confirmed
		total.Unconfirmed += s.Unconfirmed
		total.Unsubscribed += s.Unsubscribed
	}
	data := gin.H{"Stats": stats, "Total": total, "Chart": growthChart(growth), "Recent": recent, "AsOf": asOf}
	if q, err := h.Delivery.QueueHealth(ctx); err == nil {
		data["Queue"] = q
	} else {
		data["QueueError"] = apperr.ErrorCode(err)
	}
	h.render(c, http.StatusOK, "dashboard", data)
}

// growthChart draws confirmations per day as an SVG bar chart, server side.
func growthChart(days []model.DayCount) template.HTML {
	const w, hgt, pad = 720, 160, 24
	var maxN, sum int64
	for _, d := range days {
		maxN = max(maxN, d.Count)
		sum += d.Count
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-labelledby="growth-title" class="chart" xmlns="http://www.w3.org/2000/svg">`, w, hgt+pad)
	fmt.Fprintf(&b, `<title id="growth-title">Confirmed subscriptions per day over the last %d days: %d in all, at most %d in a day</title>`, len(days), sum, maxN)
	bw := float64(w) / float64(max(len(days), 1))
	for i, d := range days {
		bh := 0.0
		if maxN > 0 {
			bh = float64(d.Count) / float64(maxN) * float64(hgt-4)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s: %d</title></rect>`,
			float64(i)*bw+1, float64(hgt)-bh, bw-2, bh, d.Day.Format("2 Jan"), d.Count)
	}
	if len(days) > 0 {
		fmt.Fprintf(&b, `<text x="0" y="%d" class="axis">%s</text><text x="%d" y="%d" text-anchor="end" class="axis">%s</text>`,
			hgt+pad-6, days[0].Day.Format("2 Jan"), w, hgt+pad-6, days[len(days)-1].Day.Format("2 Jan"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and dates only
}

// lists: GET /admin/lists.
func (h *Handler) lists(c *gin.Context) {
	h.renderLists(c, http.StatusOK, nil, gin.H{})
}

func (h *Handler) renderLists(c *gin.Context, status int, errs map[string]string, form gin.H) {
	stats, asOf, err := h.Lists.Stats(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, status, "lists", gin.H{"Stats": stats, "Errors": errs, "Form": form, "AsOf": asOf})
}

// createList: POST /admin/lists (slug, name, description, proof_of_work).
func (h *Handler) createList(c *gin.Context) {
	n := lists.New{Slug: c.PostForm("slug"), Name: c.PostForm("name"), Description: c.PostForm("description"),
		ProofOfWork: c.PostForm("proof_of_work") != ""}
	l, err := h.Lists.Create(c.Request.Context(), n)
	if fe := formErrors(err); fe != nil {
		h.renderLists(c, http.StatusUnprocessableEntity, fe, gin.H{"Slug": n.Slug, "Name": n.Name, "Description": n.Description, "ProofOfWork": n.ProofOfWork})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", "list="+l.Slug)
	h.flash(c, "List “"+l.Name+"” created. Its signup form is below.")
	c.Redirect(http.StatusSeeOther, "/admin/lists/"+l.Slug)
}

// list: GET /admin/lists/:slug — edit form, the form snippet, delete.
func (h *Handler) list(c *gin.Context) {
	l, err := h.Lists.BySlug(c.Request.Context(), "slug", c.Param("slug"))
	if err != nil {
		h.fail(c, asNotFound(err))
		return
	}
	h.renderList(c, http.StatusOK, l, nil)
}

func asNotFound(err error) error {
	if apperr.ErrorCode(err) == apperr.Invalid {
		return errNotFound
	}
	return err
}

func (h *Handler) renderList(c *gin.Context, status int, l model.List, errs map[string]string) {
	form := h.Subscribe.Form
	f, err := form(c.Request.Context(), l.Slug)
	consent := ""
	if err == nil {
		consent = f.ConsentText
	}
	h.render(c, status, "list", gin.H{"List": l, "Errors": errs, "Snippet": snippet(h.Settings.BaseURL, l, consent), "DefaultConsent": h.Subscribe.ConsentText(model.List{Name: l.Name, Language: l.Language}), "Languages": h.Languages,
		"FormURL": h.Settings.BaseURL + "/subscribe/" + l.Slug, "FieldLines": fieldLines(l.Fields)})
}

// snippet is the HTML a marketer pastes into their site: the same fields as
// Envoi's own form, posting to it.
func snippet(base string, l model.List, consent string) string {
	var b strings.Builder
	pow := ""
	if l.ProofOfWork {
		pow = fmt.Sprintf(` data-pow="%s/subscribe/%s/challenge"`, base, l.Slug)
	}
	fmt.Fprintf(&b, "<form method=\"post\" action=\"%s/subscribe/%s\"%s>\n", base, l.Slug, pow)
	b.WriteString("  <label>Email address <input type=\"email\" name=\"email\" required maxlength=\"254\" autocomplete=\"email\"></label>\n")
	if l.Fields.Has(model.FieldName) {
		label := l.Fields.Get(model.FieldName).Label
		if label == "" {
			label = "Name"
		}
		fmt.Fprintf(&b, "  <label>%s (optional) <input type=\"text\" name=\"name\" maxlength=\"200\" autocomplete=\"name\"></label>\n", template.HTMLEscapeString(label))
	}
	for _, f := range l.Fields.Custom() {
		fmt.Fprintf(&b, "  <label>%s (optional: %s) <input type=\"text\" name=\"field.%s\" maxlength=\"200\"></label>\n",
			template.HTMLEscapeString(f.Label), template.HTMLEscapeString(f.Purpose), f.Name)
	}
	b.WriteString("  <div style=\"position:absolute;left:-10000px\" aria-hidden=\"true\"><input type=\"text\" name=\"website\" tabindex=\"-1\" autocomplete=\"off\"></div>\n")
	fmt.Fprintf(&b, "  <label><input type=\"checkbox\" name=\"consent\" value=\"yes\" required> %s</label>\n", template.HTMLEscapeString(consent))
	if l.ProofOfWork {
		b.WriteString("  <input type=\"hidden\" name=\"altcha\"><p data-pow-status aria-live=\"polite\"></p>\n")
	}
	b.WriteString("  <button type=\"submit\">Subscribe</button>\n</form>\n")
	if l.ProofOfWork {
		fmt.Fprintf(&b, "<script src=\"%s/static/pow.js\" defer></script>\n", base)
	}
	return b.String()
}

// updateList: POST /admin/lists/:slug (name, description, proof_of_work,
// welcome_enabled, welcome_subject, welcome_body, consent_text).
func (h *Handler) updateList(c *gin.Context) {
	name, desc, pow := c.PostForm("name"), c.PostForm("description"), c.PostForm("proof_of_work") != ""
	welcome, wsubj, wbody, consent := c.PostForm("welcome_enabled") != "", c.PostForm("welcome_subject"), c.PostForm("welcome_body"), c.PostForm("consent_text")
	lang := c.PostForm("language")
	opens := c.PostForm("open_tracking") != ""
	patch := lists.Patch{Name: &name, Description: &desc, ProofOfWork: &pow,
		WelcomeEnabled: &welcome, WelcomeSubject: &wsubj, WelcomeBody: &wbody, ConsentText: &consent, OpenTracking: &opens}
	if lang != "" {
		patch.Language = &lang
	}
	rawFields, withFields := c.GetPostForm("fields")
	if withFields {
		fs := parseFields(rawFields)
		patch.Fields = &fs
	}
	l, err := h.Lists.Update(c.Request.Context(), c.Param("slug"), patch)
	if fe := formErrors(err); fe != nil {
		old, err2 := h.Lists.BySlug(c.Request.Context(), "slug", c.Param("slug"))
		if err2 != nil {
			h.fail(c, asNotFound(err2))
			return
		}
		old.Name, old.Description, old.ProofOfWork, old.OpenTracking = name, desc, pow, opens
		old.WelcomeEnabled, old.WelcomeSubject, old.WelcomeBody, old.ConsentText = welcome, wsubj, wbody, consent
		if lang != "" {
			old.Language = lang
		}
		if withFields {
			old.Fields = parseFields(rawFields)
		}
		h.renderList(c, http.StatusUnprocessableEntity, old, fe)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.flash(c, "List saved.")
	c.Redirect(http.StatusSeeOther, "/admin/lists/"+l.Slug)
}

// parseFields reads the fields box: one field a line, "name | label | purpose".
func parseFields(raw string) model.Fields {
	fs := model.Fields{}
	for _, line := range strings.Split(raw, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		fs = append(fs, model.Field{Name: strings.TrimSpace(parts[0]), Label: strings.TrimSpace(parts[1]), Purpose: strings.TrimSpace(parts[2])})
	}
	return fs
}

// FieldLines writes fields as the fields box shows them.
func fieldLines(fs model.Fields) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Name + " | " + f.Label + " | " + f.Purpose + "\n")
	}
	return b.String()
}

// deleteList: POST /admin/lists/:slug/delete (confirm = the slug).
func (h *Handler) deleteList(c *gin.Context) {
	slug := c.Param("slug")
	if c.PostForm("confirm") != slug {
		l, err := h.Lists.BySlug(c.Request.Context(), "slug", slug)
		if err != nil {
			h.fail(c, asNotFound(err))
			return
		}
		h.renderList(c, http.StatusUnprocessableEntity, l, map[string]string{"confirm": "Type the list's slug (" + slug + ") to delete it."})
		return
	}
	if err := h.Lists.Delete(c.Request.Context(), slug); err != nil {
		h.fail(c, err)
		return
	}
	h.flash(c, "List “"+slug+"” deleted with its subscriptions.")
	c.Redirect(http.StatusSeeOther, "/admin/lists")
}

// subscribers: GET /admin/subscribers?q=&list=&status=&after= — search with
// keyset pagination.
func (h *Handler) subscribers(c *gin.Context) {
	ctx := c.Request.Context()
	after, _ := strconv.ParseInt(c.Query("after"), 10, 64)
	q := subscribe.Search{Q: c.Query("q"), List: c.Query("list"), Status: c.Query("status"), After: after, PerPage: 50}
	items, next, err := h.Subscribe.Search(ctx, q)
	errs := formErrors(err)
	if err != nil && errs == nil {
		h.fail(c, err)
		return
	}
	all, err := h.Lists.Lists(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	status := http.StatusOK
	if errs != nil {
		status = http.StatusUnprocessableEntity
	}
	h.render(c, status, "subscribers", gin.H{"Items": items, "Next": next, "Query": q, "Lists": all, "Errors": errs,
		"Statuses": []string{model.StatusConfirmed, model.StatusUnconfirmed, model.StatusUnsubscribed}})
}

// addSubscriber: POST /admin/subscribers (email, name, list): the same double
// opt-in as the form; the person is mailed a confirmation link.
func (h *Handler) addSubscriber(c *gin.Context) {
	u, _ := currentUser(c)
	err := h.Subscribe.Signup(c.Request.Context(), []string{c.PostForm("list")}, subscribe.Request{
		Email: c.PostForm("email"), Name: c.PostForm("name"), Source: subscribe.SourceAPI, IP: c.ClientIP(),
		UserAgent: "admin:" + u.Email,
	})
	if fe := formErrors(err); fe != nil {
		msg := ""
		for _, m := range fe {
			msg += m + " "
		}
		h.flash(c, "Not added: "+strings.TrimSpace(msg))
		c.Redirect(http.StatusSeeOther, "/admin/subscribers")
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", "list="+c.PostForm("list"))
	h.flash(c, "A confirmation link is on its way to the address; it joins the list once confirmed.")
	c.Redirect(http.StatusSeeOther, "/admin/subscribers")
}

// subscriber: GET /admin/subscribers/:id — subscriptions and consent record.
func (h *Handler) subscriber(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	ctx := c.Request.Context()
	s, err := h.Subscribe.Subscriber(ctx, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	events, err := h.Subscribe.ConsentRecord(ctx, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, "subscriber", gin.H{"Subscriber": s, "Events": events})
}

// renameSubscriber: POST /admin/subscribers/:id (name) corrects the name.
func (h *Handler) renameSubscriber(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	ctx := c.Request.Context()
	_, err := h.Subscribe.Rename(ctx, id, c.PostForm("name"))
	if fe := formErrors(err); fe != nil {
		s, err2 := h.Subscribe.Subscriber(ctx, id)
		if err2 != nil {
			h.fail(c, err2)
			return
		}
		events, err2 := h.Subscribe.ConsentRecord(ctx, id)
		if err2 != nil {
			h.fail(c, err2)
			return
		}
		s.Name = c.PostForm("name")
		h.render(c, http.StatusUnprocessableEntity, "subscriber", gin.H{"Subscriber": s, "Events": events, "Errors": fe})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("subscriber=%d", id))
	h.flash(c, "Name saved.")
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/subscribers/%d", id))
}

// suppressSubscriber: POST /admin/subscribers/:id/suppress (reason): a
// complaint or an objection, honoured at once.
func (h *Handler) suppressSubscriber(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	u, _ := currentUser(c)
	if _, err := h.Subscribe.Suppress(c.Request.Context(), id, c.PostForm("reason"), c.ClientIP(), "admin:"+u.Email); err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("subscriber=%d reason=%s", id, c.PostForm("reason")))
	h.flash(c, "Unsubscribed from every list and suppressed: this person is not mailed again unless they opt in afresh.")
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/subscribers/%d", id))
}

// unsubscribeSubscriber: POST /admin/subscribers/:id/unsubscribe (lists; all
// when none), logged in the consent record.
func (h *Handler) unsubscribeSubscriber(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	u, _ := currentUser(c)
	slugs := c.PostFormArray("lists")
	if _, err := h.Subscribe.UnsubscribeByAPI(c.Request.Context(), id, slugs, c.ClientIP(), "admin:"+u.Email); err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("subscriber=%d lists=%s", id, strings.Join(slugs, ",")))
	h.flash(c, "Unsubscribed.")
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/subscribers/%d", id))
}
