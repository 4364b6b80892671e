package public

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/tracking"
	"github.com/envoi/envoi/internal/web"
)

// Track serves the tracking links of campaign mail: GET /r/{token} (a click)
// and GET /o/{token} (the open pixel). These GETs count and, for a click, move
// the subscriber's last activity: neither is subscription state, so promise 3
// ("a GET never changes a subscriber's state") holds; mail scanners that
// prefetch links count too (README, Tracking).
type Track struct {
	Web      *web.Server
	Tracking *tracking.Service
}

// Register adds the routes.
func (h *Track) Register(r gin.IRouter) {
	r.GET("/r/:token", h.click)
	r.GET("/o/:token", h.open)
}

// click: GET /r/:token redirects (302) to the campaign link the token names,
// after counting it; a bad token or an index not in the campaign gets the 404
// page and no redirect.
func (h *Track) click(c *gin.Context) {
	u, err := h.Tracking.Click(c.Request.Context(), c.Param("token"))
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, u)
}

// pixel is a transparent 1×1 GIF.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// open: GET /o/:token counts an open and answers the 1×1 GIF, never cached.
func (h *Track) open(c *gin.Context) {
	if err := h.Tracking.Open(c.Request.Context(), c.Param("token")); err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store, max-age=0")
	c.Data(http.StatusOK, "image/gif", pixel)
}
