package admin

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// safeNext keeps a post-login redirect inside the admin UI.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin/"
	}
	return next
}

// loginPage: GET /admin/login.
func (h *Handler) loginPage(c *gin.Context) {
	if _, ok := currentUser(c); ok {
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	h.render(c, http.StatusOK, "login", gin.H{"Next": safeNext(c.Query("next"))})
}

// login: POST /admin/login (email, password, and code when TOTP is on).
func (h *Handler) login(c *gin.Context) {
	email, password, code := c.PostForm("email"), c.PostForm("password"), c.PostForm("code")
	next := safeNext(c.PostForm("next"))
	ctx := c.Request.Context()
	u, err := h.Users.Authenticate(ctx, email, password, code, c.ClientIP())
	if err != nil {
		e, ok := apperr.As(err)
		if !ok {
			h.fail(c, err)
			return
		}
		status := http.StatusUnauthorized
		if e.Code == apperr.TooMany {
			status = http.StatusTooManyRequests
			c.Header("Retry-After", retryAfter(e))
		}
		h.render(c, status, "login", gin.H{"Next": next, "Email": email, "Error": e.Message,
			"NeedCode": e.Field == "code", "Password": passwordIfCode(e, password)})
		return
	}
	// A new token at sign-in (no session fixation), with the account's version.
	if err := h.Sessions.RenewToken(ctx); err != nil {
		h.fail(c, err)
		return
	}
	h.Sessions.Put(ctx, keyUser, u.ID)
	h.Sessions.Put(ctx, keyVersion, u.SessionVersion)
	c.Set("audit_user", u)
	ip := c.ClientIP()
	_ = h.Users.Record(ctx, model.AuditEntry{UserID: &u.ID, UserEmail: u.Email, Action: "login", IP: &ip})
	c.Redirect(http.StatusSeeOther, next)
}

// passwordIfCode keeps the typed password in the form only while asking for
// the TOTP code (the password was right); never after a wrong password.
func passwordIfCode(e *apperr.Error, password string) string {
	if e.Field == "code" {
		return password
	}
	return ""
}

func retryAfter(e *apperr.Error) string {
	return strconv.Itoa(max(int(math.Ceil(e.RetryAfter.Seconds())), 1))
}

// keepSession carries the session that just changed its own account's
// password or TOTP over to the account's new version (every other session of
// the account has ended), under a new token. False when it failed (answered).
func (h *Handler) keepSession(c *gin.Context, userID int64) bool {
	ctx := c.Request.Context()
	nu, err := h.Users.UserByID(ctx, userID)
	if err != nil {
		h.fail(c, err)
		return false
	}
	h.Sessions.RenewToken(ctx)
	h.Sessions.Put(ctx, keyVersion, nu.SessionVersion)
	c.Set("user", nu)
	return true
}

// logout: POST /admin/logout ends this session.
func (h *Handler) logout(c *gin.Context) {
	if err := h.Sessions.Destroy(c.Request.Context()); err != nil {
		h.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/login")
}

// account: GET /admin/account: password change and two-factor sign-in.
func (h *Handler) account(c *gin.Context) {
	u, _ := currentUser(c)
	data := gin.H{}
	if !u.TOTP() {
		secret, url, err := h.Users.NewTOTP(u)
		if err != nil {
			h.fail(c, err)
			return
		}
		data["TOTPSecret"], data["TOTPURL"] = secret, url
	}
	h.render(c, http.StatusOK, "account", data)
}

// changePassword: POST /admin/account/password (current, password, confirm).
// Every session of the account ends; this one continues under the new version.
func (h *Handler) changePassword(c *gin.Context) {
	u, _ := currentUser(c)
	errs := map[string]string{}
	if c.PostForm("password") != c.PostForm("confirm") {
		errs["confirm"] = "The two new passwords differ."
	}
	var nu model.User
	var err error
	if len(errs) == 0 {
		nu, err = h.Users.ChangePassword(c.Request.Context(), u.ID, c.PostForm("current"), c.PostForm("password"))
		if fe := formErrors(err); fe != nil {
			errs = fe
		} else if err != nil {
			h.fail(c, err)
			return
		}
	}
	if len(errs) > 0 {
		h.render(c, http.StatusUnprocessableEntity, "account", gin.H{"Errors": errs})
		return
	}
	ctx := c.Request.Context()
	h.Sessions.RenewToken(ctx)
	h.Sessions.Put(ctx, keyVersion, nu.SessionVersion)
	h.flash(c, "Password changed. Every other session of your account has ended.")
	c.Redirect(http.StatusSeeOther, "/admin/account")
}

// enableTOTP: POST /admin/account/totp (secret, code) turns two-factor
// sign-in on and shows the recovery codes once.
func (h *Handler) enableTOTP(c *gin.Context) {
	u, _ := currentUser(c)
	ctx := c.Request.Context()
	codes, err := h.Users.EnableTOTP(ctx, u.ID, c.PostForm("secret"), c.PostForm("code"))
	if fe := formErrors(err); fe != nil {
		h.render(c, http.StatusUnprocessableEntity, "account", gin.H{"Errors": fe, "TOTPSecret": c.PostForm("secret")})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if !h.keepSession(c, u.ID) {
		return
	}
	h.render(c, http.StatusOK, "account", gin.H{"RecoveryCodes": codes})
}

// disableTOTP: POST /admin/account/totp/disable (current).
func (h *Handler) disableTOTP(c *gin.Context) {
	u, _ := currentUser(c)
	ctx := c.Request.Context()
	err := h.Users.DisableTOTP(ctx, u.ID, c.PostForm("current"))
	if fe := formErrors(err); fe != nil {
		h.render(c, http.StatusUnprocessableEntity, "account", gin.H{"Errors": fe})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if !h.keepSession(c, u.ID) {
		return
	}
	h.flash(c, "Two-factor sign-in is off.")
	c.Redirect(http.StatusSeeOther, "/admin/account")
}
