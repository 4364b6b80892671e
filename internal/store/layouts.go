package store

import (
	"context"

	"github.com/envoi/envoi/internal/model"
)

// SaveLayout creates or replaces a layout. Codes: invalid.
func (s *Store) SaveLayout(ctx context.Context, name, html string) (model.Layout, error) {
	var l model.Layout
	err := s.DB.GetContext(ctx, &l, `
INSERT INTO layouts (name, html) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET html = EXCLUDED.html, updated_at = now()
RETURNING name, html, created_at, updated_at`, name, html)
	return l, mapErr(err)
}

// LayoutByName returns one layout. Codes: not_found.
func (s *Store) LayoutByName(ctx context.Context, name string) (model.Layout, error) {
	var l model.Layout
	err := s.DB.GetContext(ctx, &l, `SELECT name, html, created_at, updated_at FROM layouts WHERE name = $1`, name)
	return l, mapErr(err)
}

// Layouts lists the layouts by name.
func (s *Store) Layouts(ctx context.Context) ([]model.Layout, error) {
	ls := []model.Layout{}
	err := s.DB.SelectContext(ctx, &ls, `SELECT name, html, created_at, updated_at FROM layouts ORDER BY name`)
	return ls, mapErr(err)
}
