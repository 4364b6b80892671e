package admin

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/auth"
	"github.com/envoi/envoi/internal/model"
)

// settings: GET /admin/settings — the sender's identity and how mail leaves,
// as configured by ENVOI_* variables (read-only here).
func (h *Handler) settings(c *gin.Context) {
	u, _ := currentUser(c)
	h.render(c, http.StatusOK, "settings", gin.H{"Settings": h.Settings, "To": u.Email})
}

// settingsTest: POST /admin/settings/test (to) sends a test message now and
// says what the relay answered.
func (h *Handler) settingsTest(c *gin.Context) {
	to := c.PostForm("to")
	err := h.Delivery.SendSystemTest(c.Request.Context(), to)
	if fe := formErrors(err); fe != nil {
		h.render(c, http.StatusUnprocessableEntity, "settings", gin.H{"Settings": h.Settings, "To": to, "Errors": fe})
		return
	}
	if e, ok := apperr.As(err); ok && e.Code == apperr.Unavailable {
		h.render(c, http.StatusBadGateway, "settings", gin.H{"Settings": h.Settings, "To": to, "Errors": map[string]string{"to": e.Message}})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.flash(c, "The test message was handed to the SMTP relay for "+to+".")
	c.Redirect(http.StatusSeeOther, "/admin/settings")
}

// users: GET /admin/users.
func (h *Handler) users(c *gin.Context) { h.renderUsers(c, http.StatusOK, nil, gin.H{}) }

func (h *Handler) renderUsers(c *gin.Context, status int, errs map[string]string, form gin.H) {
	us, err := h.Users.Users(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, status, "users", gin.H{"Users": us, "Errors": errs, "Form": form, "Roles": []string{model.RoleViewer, model.RoleEditor, model.RoleOwner}})
}

// createUser: POST /admin/users (email, role, password).
func (h *Handler) createUser(c *gin.Context) {
	u, err := h.Users.CreateUser(c.Request.Context(), c.PostForm("email"), c.PostForm("role"), c.PostForm("password"))
	if fe := formErrors(err); fe != nil {
		h.renderUsers(c, http.StatusUnprocessableEntity, fe, gin.H{"Email": c.PostForm("email"), "Role": c.PostForm("role")})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", "user="+u.Email+" role="+u.Role)
	h.flash(c, "Account "+u.Email+" created. Give them the password through a safe channel.")
	c.Redirect(http.StatusSeeOther, "/admin/users")
}

// setRole: POST /admin/users/:id/role (role). The account's sessions end.
func (h *Handler) setRole(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	u, err := h.Users.SetRole(c.Request.Context(), id, c.PostForm("role"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", "user="+u.Email+" role="+u.Role)
	h.flash(c, u.Email+" is now "+u.Role+"; their sessions have ended.")
	c.Redirect(http.StatusSeeOther, "/admin/users")
}

// removeUser: POST /admin/users/:id/delete.
func (h *Handler) removeUser(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	u, err := h.Users.UserByID(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.Users.RemoveUser(c.Request.Context(), id); err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", "user="+u.Email)
	h.flash(c, "Account "+u.Email+" removed; its sessions have ended.")
	c.Redirect(http.StatusSeeOther, "/admin/users")
}

// apiKeys: GET /admin/apikeys.
func (h *Handler) apiKeys(c *gin.Context) { h.renderKeys(c, http.StatusOK, gin.H{}) }

func (h *Handler) renderKeys(c *gin.Context, status int, data gin.H) {
	ks, err := h.Auth.APIKeys(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	data["Keys"] = ks
	h.render(c, status, "apikeys", data)
}

// createAPIKey: POST /admin/apikeys (name, scope): the key is shown once.
func (h *Handler) createAPIKey(c *gin.Context) {
	key, k, err := h.Auth.CreateAPIKey(c.Request.Context(), c.PostForm("name"), c.PostForm("scope"))
	if fe := formErrors(err); fe != nil {
		h.renderKeys(c, http.StatusUnprocessableEntity, gin.H{"Errors": fe, "Name": c.PostForm("name")})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("apikey=%d scope=%s", k.ID, k.Scope))
	h.renderKeys(c, http.StatusCreated, gin.H{"NewKey": key, "NewKeyName": k.Name})
}

// revokeAPIKey: POST /admin/apikeys/:id/revoke.
func (h *Handler) revokeAPIKey(c *gin.Context) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	k, err := h.Auth.RevokeAPIKey(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("apikey=%d", k.ID))
	h.flash(c, "Key “"+k.Name+"” revoked.")
	c.Redirect(http.StatusSeeOther, "/admin/apikeys")
}

// audit: GET /admin/audit?user=&action=&before= — newest first.
func (h *Handler) audit(c *gin.Context) {
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	f := auth.AuditFilter{User: c.Query("user"), Action: c.Query("action"), Before: before, Limit: 100}
	es, err := h.Users.Audit(c.Request.Context(), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	var next int64
	if len(es) == f.Limit {
		next = es[len(es)-1].ID
	}
	h.render(c, http.StatusOK, "audit", gin.H{"Entries": es, "Filter": f, "Next": next})
}
