package admin

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/web"
)

// importsPage: GET /admin/imports — the upload form (editors) and the imports so far.
func (h *Handler) importsPage(c *gin.Context) {
	h.importsForm(c, http.StatusOK, map[string]string{}, nil)
}

func (h *Handler) importsForm(c *gin.Context, status int, form map[string]string, errs map[string]string) {
	ctx := c.Request.Context()
	items, err := h.Imports.Imports(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	ls, err := h.Lists.Lists(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, status, "imports", gin.H{"Items": items, "Lists": ls, "Form": form, "Errors": errs})
}

// startImport: POST /admin/imports (multipart: list, consent_text, then file)
// stages the file as it arrives and queues the import.
func (h *Handler) startImport(c *gin.Context) {
	fields, file, err := web.Upload(c, "file", "list", "consent_text")
	if err != nil {
		if fe := formErrors(err); fe != nil {
			h.importsForm(c, http.StatusUnprocessableEntity, map[string]string{}, fe)
			return
		}
		h.fail(c, err)
		return
	}
	im, err := h.Imports.Start(c.Request.Context(), imports.Request{List: fields["list"], Source: imports.SourceAdmin,
		ConsentText: fields["consent_text"]}, file)
	if fe := formErrors(err); fe != nil {
		h.importsForm(c, http.StatusUnprocessableEntity, map[string]string{"List": fields["list"], "ConsentText": fields["consent_text"]}, fe)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set("audit", fmt.Sprintf("import=%d list=%s rows=%d", im.ID, im.ListSlug, im.RowsRead))
	h.flash(c, "File received. The import runs in the background: this page follows it.")
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/imports/%d", im.ID))
}

// importPage: GET /admin/imports/:id — counts, progress (polled by htmx while
// it runs) and the error lines.
func (h *Handler) importPage(c *gin.Context) {
	h.importView(c, "import")
}

// importProgress: GET /admin/imports/:id/progress — the progress fragment.
func (h *Handler) importProgress(c *gin.Context) {
	h.importView(c, "import_progress")
}

func (h *Handler) importView(c *gin.Context, page string) {
	id, ok := paramID(c)
	if !ok {
		h.fail(c, errNotFound)
		return
	}
	st, err := h.Imports.Import(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, page, gin.H{"Import": st.Import, "Errors": st.Errors})
}
