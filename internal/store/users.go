package store

import (
	"context"

	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

const userColumns = `id, email, role, password_hash, totp_secret, recovery_codes, session_version, created_at, updated_at`

type userRow struct {
	model.User
	Codes pq.StringArray `db:"recovery_codes"`
}

func (r userRow) user() model.User {
	u := r.User
	u.RecoveryCodes = []string(r.Codes)
	return u
}

// CreateUser stores an account. Codes: conflict (Field email), invalid.
func (s *Store) CreateUser(ctx context.Context, email, role, passwordHash string) (model.User, error) {
	var r userRow
	err := s.DB.GetContext(ctx, &r, `INSERT INTO users (email, role, password_hash) VALUES ($1, $2, $3) RETURNING `+userColumns,
		email, role, passwordHash)
	if e, ok := apperr.As(mapErr(err)); ok && e.Code == apperr.Conflict {
		return model.User{}, &apperr.Error{Code: apperr.Conflict, Field: "email", Message: "There is already an account with this address."}
	}
	return r.user(), mapErr(err)
}

// UserByEmail finds an account by address, ignoring case. Codes: not_found.
func (s *Store) UserByEmail(ctx context.Context, email string) (model.User, error) {
	var r userRow
	err := s.DB.GetContext(ctx, &r, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email)
	return r.user(), mapErr(err)
}

// UserByID finds an account. Codes: not_found.
func (s *Store) UserByID(ctx context.Context, id int64) (model.User, error) {
	var r userRow
	err := s.DB.GetContext(ctx, &r, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	return r.user(), mapErr(err)
}

// Users lists every account by address. Accounts are few.
func (s *Store) Users(ctx context.Context) ([]model.User, error) {
	var rs []userRow
	if err := s.DB.SelectContext(ctx, &rs, `SELECT `+userColumns+` FROM users ORDER BY lower(email)`); err != nil {
		return nil, mapErr(err)
	}
	us := make([]model.User, len(rs))
	for i, r := range rs {
		us[i] = r.user()
	}
	return us, nil
}

// CountOwners counts the accounts with the owner role.
func (s *Store) CountOwners(ctx context.Context) (int, error) {
	var n int
	err := s.DB.GetContext(ctx, &n, `SELECT count(*) FROM users WHERE role = 'owner'`)
	return n, mapErr(err)
}

// UserChange is what UpdateUser sets; nil fields stay. Every change ends the
// account's sessions (session_version).
type UserChange struct {
	PasswordHash  *string
	Role          *string
	TOTPSecret    **string // set to a *string (nil: TOTP off)
	RecoveryCodes *[]string
}

// UpdateUser changes an account and bumps its session version. Codes: not_found.
func (s *Store) UpdateUser(ctx context.Context, id int64, ch UserChange) (model.User, error) {
	setTOTP, totp := false, (*string)(nil)
	if ch.TOTPSecret != nil {
		setTOTP, totp = true, *ch.TOTPSecret
	}
	var codes any
	if ch.RecoveryCodes != nil {
		codes = pq.StringArray(*ch.RecoveryCodes)
	}
	var r userRow
	err := s.DB.GetContext(ctx, &r, `
UPDATE users SET
    password_hash = COALESCE($2, password_hash),
    role = COALESCE($3, role),
    totp_secret = CASE WHEN $4 THEN $5 ELSE totp_secret END,
    recovery_codes = COALESCE($6, recovery_codes),
    session_version = session_version + 1,
    updated_at = now()
WHERE id = $1
RETURNING `+userColumns, id, ch.PasswordHash, ch.Role, setTOTP, totp, codes)
	return r.user(), mapErr(err)
}

// UseRecoveryCode removes one unused recovery code (by hash) and reports
// whether it was there, atomically: a code works once.
func (s *Store) UseRecoveryCode(ctx context.Context, id int64, codeHash string) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE users SET recovery_codes = array_remove(recovery_codes, $2)
WHERE id = $1 AND $2 = ANY (recovery_codes)`, id, codeHash)
	if err != nil {
		return false, mapErr(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteUser removes an account; its sessions end with it (their version no
// longer matches anything). Codes: not_found.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "There is no such account.")
	}
	return nil
}

// RecordAudit appends an entry to the audit log.
func (s *Store) RecordAudit(ctx context.Context, e model.AuditEntry) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO audit_log (user_id, user_email, action, target, ip, created_at)
VALUES ($1, $2, $3, $4, NULLIF($5, '')::inet, $6)`, e.UserID, e.UserEmail, e.Action, e.Target, derefString(e.IP), s.Now())
	return mapErr(err)
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// AuditFilter selects audit entries: by user address and action (substrings),
// newest first, Before an id (keyset paging).
type AuditFilter struct {
	User, Action string
	Before       int64
	Limit        int
}

// AuditEntries returns a page of the audit log.
func (s *Store) AuditEntries(ctx context.Context, f AuditFilter) ([]model.AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	es := []model.AuditEntry{}
	err := s.DB.SelectContext(ctx, &es, `
SELECT id, created_at, user_id, user_email, action, target, host(ip) AS ip FROM audit_log
WHERE ($1 = '' OR strpos(lower(user_email), lower($1)) > 0)
  AND ($2 = '' OR strpos(action, $2) > 0)
  AND ($3 = 0 OR id < $3)
ORDER BY id DESC LIMIT $4`, f.User, f.Action, f.Before, f.Limit)
	return es, mapErr(err)
}

// UseTOTPStep records that a TOTP code of step was used, unless one of that
// step or a later one was already: it reports whether the code may be accepted.
func (s *Store) UseTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE users SET totp_last_step = $2
WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`, id, step)
	if err != nil {
		return false, mapErr(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
