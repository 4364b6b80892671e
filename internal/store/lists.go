package store

import (
	"context"

	"github.com/envoi/envoi/internal/model"
)

const listColumns = `id, slug, name, description, welcome_enabled, welcome_subject, welcome_body, created_at`

const createListSQL = `
INSERT INTO lists (slug, name, description) VALUES ($1, $2, $3)
RETURNING ` + listColumns

// CreateList creates a list. Codes: conflict (slug taken), invalid.
func (s *Store) CreateList(ctx context.Context, slug, name, description string) (model.List, error) {
	var l model.List
	err := s.DB.GetContext(ctx, &l, createListSQL, slug, name, description)
	return l, mapErr(err)
}

const listBySlugSQL = `SELECT ` + listColumns + ` FROM lists WHERE slug = $1`

// ListBySlug returns one list. Codes: not_found.
func (s *Store) ListBySlug(ctx context.Context, slug string) (model.List, error) {
	var l model.List
	err := s.DB.GetContext(ctx, &l, listBySlugSQL, slug)
	return l, mapErr(err)
}

const listsSQL = `SELECT ` + listColumns + ` FROM lists ORDER BY slug`

// Lists returns every list by slug. Lists are few (tens), so no paging.
func (s *Store) Lists(ctx context.Context) ([]model.List, error) {
	ls := []model.List{}
	err := s.DB.SelectContext(ctx, &ls, listsSQL)
	return ls, mapErr(err)
}
