package store

import (
	"context"
	"fmt"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/jmoiron/sqlx"
)

const listColumns = `id, slug, name, description, welcome_enabled, welcome_subject, welcome_body, consent_text, language, proof_of_work, fields, open_tracking, created_at`

const createListSQL = `
INSERT INTO lists (slug, name, description, proof_of_work, fields) VALUES ($1, $2, $3, $4, '[{"name": "name", "label": "", "purpose": ""}]')
RETURNING ` + listColumns

// CreateList creates a list. Codes: conflict (slug taken), invalid.
func (s *Store) CreateList(ctx context.Context, slug, name, description string, proofOfWork bool) (model.List, error) {
	var l model.List
	err := s.DB.GetContext(ctx, &l, createListSQL, slug, name, description, proofOfWork)
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

// UpdateList sets a list's editable fields (name, description, proof of work,
// welcome message, consent text) to l's. Codes: not_found, invalid.
func (s *Store) UpdateList(ctx context.Context, slug string, l model.List) (model.List, error) {
	var out model.List
	err := s.DB.GetContext(ctx, &out, `UPDATE lists SET name = $2, description = $3, proof_of_work = $4, welcome_enabled = $5,
    welcome_subject = $6, welcome_body = $7, consent_text = $8, language = $9, fields = $10, open_tracking = $11 WHERE slug = $1 RETURNING `+listColumns, slug, l.Name, l.Description,
		l.ProofOfWork, l.WelcomeEnabled, l.WelcomeSubject, l.WelcomeBody, l.ConsentText, l.Language, l.Fields, l.OpenTracking)
	return out, mapErr(err)
}

// DeleteList deletes a list, its subscriptions and their ledgers, unless a
// campaign to it is scheduled, sending or paused. Codes: not_found, conflict.
func (s *Store) DeleteList(ctx context.Context, slug string) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error {
		var id int64
		if err := tx.GetContext(ctx, &id, `SELECT id FROM lists WHERE slug = $1 FOR UPDATE`, slug); err != nil {
			return mapErr(err)
		}
		var busy int
		if err := tx.GetContext(ctx, &busy, `SELECT count(*) FROM campaign_lists cl JOIN campaigns c ON c.id = cl.campaign_id
WHERE cl.list_id = $1 AND c.status IN ('scheduled', 'sending', 'paused')`, id); err != nil {
			return mapErr(err)
		}
		if busy > 0 {
			return &apperr.Error{Code: apperr.Conflict, Message: fmt.Sprintf("The list has %d campaign(s) scheduled, sending or paused: finish or cancel them first.", busy), Field: "slug"}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM lists WHERE id = $1`, id)
		return mapErr(err)
	})
}
