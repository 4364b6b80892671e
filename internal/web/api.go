package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/auth"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/subscribe"
)

// MaxAPIBytes bounds a JSON API body.
const MaxAPIBytes = 1 << 20

// requireAPIKey checks "Authorization: Bearer KEY"; 401 without a valid key.
func (s *Server) requireAPIKey(c *gin.Context) {
	h := c.GetHeader("Authorization")
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(key) == "" {
		c.Header("WWW-Authenticate", `Bearer realm="envoi"`)
		s.fail(c, apperr.New(apperr.Unauthorized, "Send an API key: Authorization: Bearer KEY (create one with `envoi apikey create --name NAME`)."))
		return
	}
	if _, err := s.Store.APIKeyByHash(c.Request.Context(), auth.HashAPIKey(key)); err != nil {
		if apperr.ErrorCode(err) == apperr.NotFound {
			c.Header("WWW-Authenticate", `Bearer realm="envoi", error="invalid_token"`)
			err = apperr.New(apperr.Unauthorized, "This API key is not valid.")
		}
		s.fail(c, err)
		return
	}
	c.Next()
}

// bindJSON decodes a JSON body into v, with clear errors.
func bindJSON(c *gin.Context, v any) error {
	if !strings.HasPrefix(c.ContentType(), "application/json") {
		return errUnsupported
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, MaxAPIBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.Contains(err.Error(), "request body too large") {
			return errTooLarge
		}
		return apperr.New(apperr.BadRequest, "The request body is not valid JSON for this endpoint: "+err.Error())
	}
	return nil
}

func (s *Server) apiLists(c *gin.Context) {
	ls, err := s.Store.Lists(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": ls})
}

func (s *Server) apiCreateList(c *gin.Context) {
	var in struct {
		Slug        string `json:"slug"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := bindJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	l, err := lists.Create(c.Request.Context(), s.Store, in.Slug, in.Name, in.Description)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, l)
}

// apiCreateSubscriber: POST /api/v1/subscribers starts the same double opt-in as
// the form, for each list; 202 whatever the address's state.
func (s *Server) apiCreateSubscriber(c *gin.Context) {
	var in struct {
		Email string   `json:"email"`
		Name  string   `json:"name"`
		Lists []string `json:"lists"`
	}
	if err := bindJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if len(in.Lists) == 0 {
		s.fail(c, apperr.FieldError("lists", "Name at least one list by slug, like \"lists\": [\"newsletter\"]."))
		return
	}
	if len(in.Lists) > 50 {
		s.fail(c, apperr.FieldError("lists", "At most 50 lists at once."))
		return
	}
	var targets []model.List
	seen := map[string]bool{}
	for _, slug := range in.Lists {
		if seen[slug] {
			continue
		}
		seen[slug] = true
		l, err := s.Store.ListBySlug(ctx, slug)
		if apperr.ErrorCode(err) == apperr.NotFound {
			s.fail(c, apperr.FieldError("lists", "There is no list with the slug \""+slug+"\"."))
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		targets = append(targets, l)
	}
	err := s.Subscribe.Signup(ctx, targets, subscribe.Request{Email: in.Email, Name: in.Name, Source: subscribe.SourceAPI,
		IP: c.ClientIP(), UserAgent: c.Request.UserAgent()})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "pending", "message": "A confirmation email is on its way unless the address is already confirmed or was sent one in the last 15 minutes."})
}

// apiSubscribers: GET /api/v1/subscribers?email=ADDR, or ?list=SLUG[&status=S][&page=N][&per_page=M].
func (s *Server) apiSubscribers(c *gin.Context) {
	ctx := c.Request.Context()
	if e, ok := c.GetQuery("email"); ok {
		email, err := address.Normalize(e)
		if err != nil {
			s.fail(c, apperr.FieldError("email", err.Error()))
			return
		}
		items, err := s.Store.SubscribersByEmail(ctx, email)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"items": items})
		return
	}
	slug := c.Query("list")
	if slug == "" {
		s.fail(c, apperr.FieldError("list", "Give ?email=ADDRESS or ?list=SLUG."))
		return
	}
	status := c.Query("status")
	switch status {
	case "", model.StatusUnconfirmed, model.StatusConfirmed, model.StatusUnsubscribed:
	default:
		s.fail(c, apperr.FieldError("status", "status is unconfirmed, confirmed or unsubscribed."))
		return
	}
	page, err := intParam(c, "page", 1, 1, 1_000_000)
	if err != nil {
		s.fail(c, err)
		return
	}
	perPage, err := intParam(c, "per_page", 100, 1, 1000)
	if err != nil {
		s.fail(c, err)
		return
	}
	l, err := s.Store.ListBySlug(ctx, slug)
	if err != nil {
		if apperr.ErrorCode(err) == apperr.NotFound {
			err = apperr.FieldError("list", "There is no list with the slug \""+slug+"\".")
		}
		s.fail(c, err)
		return
	}
	p, err := s.Store.SubscribersOnList(ctx, l.ID, status, page, perPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func intParam(c *gin.Context, name string, def, min, max int) (int, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, apperr.FieldError(name, name+" must be a whole number from "+strconv.Itoa(min)+" to "+strconv.Itoa(max)+".")
	}
	return n, nil
}
