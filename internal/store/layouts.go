package store

import (
	"context"
	"time"
)

// Layout is a marketer's campaign layout (html/template source).
type Layout struct {
	Name      string    `db:"name" json:"name"`
	HTML      string    `db:"html" json:"html"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

// SaveLayout creates or replaces a layout. Codes: invalid.
func (s *Store) SaveLayout(ctx context.Context, name, html string) (Layout, error) {
	var l Layout
	err := s.DB.GetContext(ctx, &l, `
INSERT INTO layouts (name, html) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET html = EXCLUDED.html, updated_at = now()
RETURNING name, html, created_at, updated_at`, name, html)
	return l, mapErr(err)
}

// LayoutByName returns one layout. Codes: not_found.
func (s *Store) LayoutByName(ctx context.Context, name string) (Layout, error) {
	var l Layout
	err := s.DB.GetContext(ctx, &l, `SELECT name, html, created_at, updated_at FROM layouts WHERE name = $1`, name)
	return l, mapErr(err)
}

// Layouts lists the layouts by name.
func (s *Store) Layouts(ctx context.Context) ([]Layout, error) {
	ls := []Layout{}
	err := s.DB.SelectContext(ctx, &ls, `SELECT name, html, created_at, updated_at FROM layouts ORDER BY name`)
	return ls, mapErr(err)
}
