// Package lists owns the rules for mailing lists: what a valid slug, name and
// description are. Every list is double opt-in; there is no setting to change that.
package lists

import (
	"context"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
)

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Create validates and creates a list. Codes: invalid (Field slug, name or
// description), conflict (slug taken).
func Create(ctx context.Context, st *store.Store, slug, name, description string) (model.List, error) {
	slug, name, description = strings.TrimSpace(slug), strings.TrimSpace(name), strings.TrimSpace(description)
	switch {
	case !slugRE.MatchString(slug):
		return model.List{}, apperr.FieldError("slug", "A slug is 1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit, like \"newsletter\".")
	case name == "":
		return model.List{}, apperr.FieldError("name", "Give the list a name.")
	case utf8.RuneCountInString(name) > 200:
		return model.List{}, apperr.FieldError("name", "Keep the name under 200 characters.")
	case utf8.RuneCountInString(description) > 2000:
		return model.List{}, apperr.FieldError("description", "Keep the description under 2000 characters.")
	}
	l, err := st.CreateList(ctx, slug, name, description)
	if apperr.ErrorCode(err) == apperr.Conflict {
		return l, &apperr.Error{Code: apperr.Conflict, Message: "A list with the slug \"" + slug + "\" already exists.", Field: "slug"}
	}
	return l, err
}
