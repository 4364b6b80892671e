package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/apperr"
)

// UploadTimeout is how long a streamed upload (a CSV import) may take to
// arrive and be answered, instead of the server's 30 s.
const UploadTimeout = 30 * time.Minute

// maxUploadField is the most bytes of a small multipart field (a list slug, a consent text).
const maxUploadField = 64 << 10

// Upload reads a file upload without holding it: either the body itself
// (text/csv, fields from the query string) or multipart/form-data whose small
// fields come before the file part named file (a browser sends the parts in
// the form's order). It returns the fields named (query string values first,
// multipart ones over them) and the file, to be read to its end before
// answering. Codes: bad_request (no file), unsupported (another type).
func Upload(c *gin.Context, file string, fields ...string) (map[string]string, io.Reader, error) {
	// The file may take longer than the server's timeouts to arrive.
	rc := http.NewResponseController(c.Writer)
	rc.SetReadDeadline(time.Now().Add(UploadTimeout))
	rc.SetWriteDeadline(time.Now().Add(UploadTimeout + time.Minute))
	out := map[string]string{}
	for _, f := range fields {
		if v, ok := c.GetQuery(f); ok {
			out[f] = v
		}
	}
	mt, params, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case "text/csv", "text/plain", "application/csv":
		return out, c.Request.Body, nil
	case "multipart/form-data":
	default:
		return nil, nil, apperr.New(apperr.Unsupported, "Send the file as text/csv, or as the field "+file+" of a multipart/form-data form.")
	}
	if params["boundary"] == "" {
		return nil, nil, apperr.New(apperr.BadRequest, "The multipart form has no boundary.")
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, nil, apperr.New(apperr.BadRequest, "The multipart form cannot be read.")
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil, apperr.FieldError(file, "Choose a CSV file to import.")
		}
		if err != nil {
			return nil, nil, apperr.New(apperr.BadRequest, "The multipart form cannot be read.")
		}
		name := p.FormName()
		if name == file {
			return out, p, nil
		}
		b, err := io.ReadAll(io.LimitReader(p, maxUploadField+1))
		if err != nil || len(b) > maxUploadField {
			return nil, nil, apperr.New(apperr.BadRequest, "The form field "+name+" is too long or cannot be read.")
		}
		for _, f := range fields {
			if f == name {
				out[f] = strings.ReplaceAll(string(b), "\r\n", "\n")
			}
		}
	}
}
