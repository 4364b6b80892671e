package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/web"
)

// createImport: POST /api/v1/imports?list=SLUG[&consent_text=…] with a
// text/csv body, or multipart/form-data (list, consent_text, then file). The
// file is read and staged while it arrives; the answer (202) comes once it is
// all staged, and a worker imports it: poll GET /api/v1/imports/{id}.
func (h *Handler) createImport(c *gin.Context) {
	fields, file, err := web.Upload(c, "file", "list", "consent_text")
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	im, err := h.Imports.Start(c.Request.Context(), imports.Request{List: fields["list"], Source: imports.SourceAPI,
		ConsentText: fields["consent_text"]}, file)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/imports/"+strconv.FormatInt(im.ID, 10))
	c.JSON(http.StatusAccepted, imports.Status{Import: im, Errors: nil})
}

// importStatus: GET /api/v1/imports/:id — state, counts and the first error lines.
func (h *Handler) importStatus(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		h.Web.Fail(c, apperr.New(apperr.NotFound, "There is no import with this id."))
		return
	}
	st, err := h.Imports.Import(c.Request.Context(), id)
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// importsList: GET /api/v1/imports — the 100 newest, newest first.
func (h *Handler) importsList(c *gin.Context) {
	items, err := h.Imports.Imports(c.Request.Context())
	if err != nil {
		h.Web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}
