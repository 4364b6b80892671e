package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// MaxImportErrors is how many error lines an import keeps (the first ones by
// line); bad_rows counts them all.
const MaxImportErrors = 1000

// ImportRow is one valid row of an import file, for the staging table.
type ImportRow struct {
	Line               int64
	Email              string // normalized
	Name               string
	ConsentedAt        *time.Time // nil: no proof of consent
	ConsentSource      string
	ConsentTextVersion string
}

// StageResult is what reading an import file found besides its valid rows.
type StageResult struct {
	RowsRead int64
	BadRows  int64
	Errors   []model.ImportError // the first MaxImportErrors
}

const importColumns = `id, list_slug, state, source, consent_text_version, rows_read, staged, processed, bad_rows, duplicates,
    suppressed, confirmed_with_proof, awaiting_confirmation, repermission_queued, already_confirmed, kept_unsubscribed,
    errors_kept, error, created_at, started_at, finished_at, updated_at`

// CreateImport records a new import into a list, in state receiving.
func (s *Store) CreateImport(ctx context.Context, listID int64, listSlug, source, textVersion string) (model.Import, error) {
	var im model.Import
	now := s.Now()
	err := s.DB.GetContext(ctx, &im, `INSERT INTO imports (list_id, list_slug, source, consent_text_version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $5) RETURNING `+importColumns, listID, listSlug, source, textVersion, now)
	return im, mapErr(err)
}

// StageImport streams an import's valid rows into import_rows with COPY, in
// one transaction with the counts and the first error lines that fill
// returns, and marks the import queued. fill calls add for each valid row (in
// file order); nothing is held in memory but the rows COPY has not sent yet.
// If fill or COPY fails, nothing is staged. Codes: not_found, conflict (not
// receiving any more).
func (s *Store) StageImport(ctx context.Context, id int64, fill func(add func(ImportRow) error) (StageResult, error)) (model.Import, error) {
	var im model.Import
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var state string
		if err := tx.GetContext(ctx, &state, `SELECT state FROM imports WHERE id = $1 FOR UPDATE`, id); err != nil {
			return mapErr(err)
		}
		if state != model.ImportReceiving {
			return apperr.New(apperr.Conflict, "This import has already received its file.")
		}
		st, err := tx.PrepareContext(ctx, pq.CopyIn("import_rows", "import_id", "line", "email", "name", "consented_at",
			"consent_source", "consent_text_version", "email_hash"))
		if err != nil {
			return mapErr(err)
		}
		defer st.Close()
		var staged int64
		res, err := fill(func(r ImportRow) error {
			var at any
			if r.ConsentedAt != nil {
				at = *r.ConsentedAt
			}
			if _, err := st.ExecContext(ctx, id, r.Line, r.Email, r.Name, at, r.ConsentSource, r.ConsentTextVersion,
				s.Pseudo.Email(r.Email)); err != nil {
				return mapErr(err)
			}
			staged++
			return nil
		})
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx); err != nil {
			return fmt.Errorf("copy import rows: %w", mapErr(err))
		}
		if len(res.Errors) > 0 {
			lines, reasons := make(pq.Int64Array, len(res.Errors)), make(pq.StringArray, len(res.Errors))
			for i, e := range res.Errors {
				lines[i], reasons[i] = e.Line, truncate(e.Reason, 300)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO import_errors (import_id, line, reason)
SELECT $1, l, r FROM unnest($2::bigint[], $3::text[]) AS u(l, r) ON CONFLICT DO NOTHING`, id, lines, reasons); err != nil {
				return mapErr(err)
			}
		}
		return mapErr(tx.GetContext(ctx, &im, `UPDATE imports SET state = 'queued', rows_read = $2, staged = $3, bad_rows = $4,
    errors_kept = $5, updated_at = $6 WHERE id = $1 RETURNING `+importColumns, id, res.RowsRead, staged, res.BadRows, len(res.Errors), s.Now()))
	})
	return im, err
}

// FailImport ends an import that cannot go on, saying why (no personal data
// in why), and deletes its staging rows.
func (s *Store) FailImport(ctx context.Context, id int64, why string) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM import_rows WHERE import_id = $1`, id); err != nil {
			return mapErr(err)
		}
		now := s.Now()
		_, err := tx.ExecContext(ctx, `UPDATE imports SET state = 'failed', error = $2, finished_at = $3, updated_at = $3
WHERE id = $1 AND state NOT IN ('done', 'failed')`, id, truncate(why, 500), now)
		return mapErr(err)
	})
}

// importDuplicatesSQL takes out the later rows of an address that appears more
// than once in the file (ignoring case, as subscribers are unique), keeping
// the first ones' reasons within the error cap.
const importDuplicatesSQL = `
WITH d AS (
    SELECT line, first_value(line) OVER (PARTITION BY lower(email) ORDER BY line) AS first
    FROM import_rows WHERE import_id = $1
), dup AS (
    SELECT line, first FROM d WHERE line <> first
), del AS (
    DELETE FROM import_rows r USING dup WHERE r.import_id = $1 AND r.line = dup.line
    RETURNING r.line, dup.first
), kept AS (
    INSERT INTO import_errors (import_id, line, reason)
    SELECT $1, line, 'duplicate of line ' || first || ' (the same address, ignoring case)' FROM del ORDER BY line LIMIT $2
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM kept)`

// StartImport moves a queued import to running: it takes out the duplicate
// rows first (counted, their lines kept with the errors). A running import is
// left as it is (a resumed one). It returns the import.
func (s *Store) StartImport(ctx context.Context, id int64) (model.Import, error) {
	var im model.Import
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &im, `SELECT `+importColumns+` FROM imports WHERE id = $1 FOR UPDATE`, id); err != nil {
			return mapErr(err)
		}
		if im.State != model.ImportQueued {
			return nil
		}
		var dups, kept int64
		if err := tx.QueryRowxContext(ctx, importDuplicatesSQL, id, MaxImportErrors-im.ErrorsKept).Scan(&dups, &kept); err != nil {
			return mapErr(err)
		}
		// Keep the first MaxImportErrors lines of all the errors (duplicates come
		// after the bad rows found while reading).
		if kept > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM import_errors WHERE import_id = $1 AND line > (
    SELECT line FROM import_errors WHERE import_id = $1 ORDER BY line OFFSET $2 LIMIT 1)`, id, MaxImportErrors-1); err != nil {
				return mapErr(err)
			}
		}
		now := s.Now()
		return mapErr(tx.GetContext(ctx, &im, `UPDATE imports SET state = 'running', duplicates = $2, processed = processed + $2,
    errors_kept = (SELECT count(*) FROM import_errors WHERE import_id = $1), started_at = COALESCE(started_at, $3), updated_at = $3
WHERE id = $1 RETURNING `+importColumns, id, dups, now))
	})
	return im, err
}

// importChunkSQL moves the next rows of an import's staging into subscribers
// and subscriptions, in one statement: it deletes them from staging (so a
// committed chunk is never taken twice and an aborted one comes back), skips
// suppressed addresses (the suppression list's keyed hash, or a suppressed
// subscriber), leaves confirmed subscriptions as they are and unsubscribed ones
// unsubscribed unless the row's proof of consent is newer than the
// unsubscription, confirms rows with proof as of their consent date, subscribes
// the others unconfirmed and queues their confirmation mail (unless one went
// out within ConfirmInterval), and logs one 'import' consent event per row
// written. $1 import, $2 rows, $3 list id, $4 now, $5 list slug, $6 interval (s).
//
// Its shape is for plans that stay fast at any table size under generic
// plans: the rows are found by ctid, each row's subscriber, suppression and
// subscription by index (LATERAL … LIMIT 1 keeps them per-row lookups), new
// subscribers get their id from the sequence beforehand, and no two CTEs are
// joined (their row estimates are guesses; a nested loop over two 10,000-row
// CTEs took 50 s).
const importChunkSQL = `
WITH r AS (
    DELETE FROM import_rows
    WHERE ctid = ANY (ARRAY(SELECT ctid FROM import_rows WHERE import_id = $1 ORDER BY line LIMIT $2 FOR UPDATE SKIP LOCKED))
    RETURNING line, email, name, consented_at, consent_source, consent_text_version, email_hash
), cur AS (
    SELECT r.*, sr.id AS subscriber_id, (COALESCE(sr.suppressed, false) OR sp.hit IS NOT NULL) AS suppressed,
           sn.status AS prev_status, sn.unsubscribed_at, sn.confirm_requested_at
    FROM r
    LEFT JOIN LATERAL (SELECT x.id, x.suppressed_at IS NOT NULL AS suppressed FROM subscribers x WHERE lower(x.email) = lower(r.email) LIMIT 1) sr ON true
    LEFT JOIN LATERAL (SELECT true AS hit FROM suppressions x WHERE x.email_hash = r.email_hash LIMIT 1) sp ON true
    LEFT JOIN LATERAL (SELECT x.status, x.unsubscribed_at, x.confirm_requested_at FROM subscriptions x
                       WHERE x.subscriber_id = sr.id AND x.list_id = $3 LIMIT 1) sn ON true
), d AS (
    SELECT cur.*, CASE
        WHEN suppressed THEN 'suppressed'
        WHEN prev_status = 'confirmed' THEN 'already'
        WHEN prev_status = 'unsubscribed' AND (consented_at IS NULL OR consented_at <= unsubscribed_at) THEN 'unsubscribed'
        WHEN consented_at IS NOT NULL THEN 'proof'
        ELSE 'pending' END AS outcome
    FROM cur
), w AS (
    -- sid: the subscriber to write, a new id from the sequence for a new person.
    SELECT d.*, CASE WHEN outcome IN ('proof', 'pending') THEN COALESCE(subscriber_id, nextval('subscribers_id_seq')) END AS sid
    FROM d
), sub AS (
    -- A concurrent insert of the same address makes this row do nothing; the
    -- subscription below then fails its foreign key, the chunk rolls back and is
    -- taken again (finding that subscriber).
    INSERT INTO subscribers (id, email, name, email_hash, created_at, updated_at, last_activity_at)
    SELECT sid, email, name, email_hash, $4, $4, COALESCE(consented_at, $4) FROM w
    WHERE sid IS NOT NULL AND subscriber_id IS NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
), sn AS (
    INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, confirm_requested_at, created_at, updated_at)
    SELECT sid, $3, CASE WHEN outcome = 'proof' THEN 'confirmed' ELSE 'unconfirmed' END,
           CASE WHEN outcome = 'proof' THEN consented_at END,
           CASE WHEN outcome = 'pending' AND (confirm_requested_at IS NULL OR confirm_requested_at <= $4::timestamptz - make_interval(secs => $6))
                THEN $4::timestamptz ELSE confirm_requested_at END,
           $4, $4
    FROM w WHERE sid IS NOT NULL
    ON CONFLICT (subscriber_id, list_id) DO UPDATE SET
        -- Never a step back, whatever happened since the statement's snapshot.
        status = CASE WHEN subscriptions.status = 'confirmed' THEN 'confirmed'
                      WHEN subscriptions.status = 'unsubscribed' AND EXCLUDED.status <> 'confirmed' THEN 'unsubscribed'
                      ELSE EXCLUDED.status END,
        confirmed_at = CASE WHEN subscriptions.status <> 'confirmed' AND EXCLUDED.status = 'confirmed' THEN EXCLUDED.confirmed_at
                            ELSE subscriptions.confirmed_at END,
        unsubscribed_at = CASE WHEN subscriptions.status = 'unsubscribed' AND EXCLUDED.status = 'confirmed' THEN NULL
                               ELSE subscriptions.unsubscribed_at END,
        confirm_requested_at = CASE WHEN subscriptions.status = 'unconfirmed' THEN EXCLUDED.confirm_requested_at
                                    ELSE subscriptions.confirm_requested_at END,
        -- A name typed with an unconfirmed signup is not applied by an import.
        pending_name = CASE WHEN subscriptions.status <> 'confirmed' AND EXCLUDED.status = 'confirmed' THEN '' ELSE subscriptions.pending_name END,
        updated_at = EXCLUDED.updated_at
    RETURNING id, status = 'unconfirmed' AND confirm_requested_at = $4::timestamptz AS mail
), msg AS (
    INSERT INTO transactional_messages (subscription_id, kind, created_at)
    SELECT id, 'confirm', $4 FROM sn WHERE mail
    RETURNING id
), logged AS (
    INSERT INTO consent_log (subscriber_id, list_id, list_slug, action, source, consent_text_version, created_at, email_hash, detail)
    SELECT sid, $3, $5, 'import', 'import', CASE WHEN outcome = 'proof' THEN consent_text_version ELSE '' END, $4, email_hash,
           CASE WHEN outcome = 'proof'
                THEN 'import=' || $1::bigint || '; source=' || consent_source || '; consented_at=' || to_char(consented_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                ELSE 'import=' || $1::bigint || '; no proof of consent: confirmation asked' END
    FROM w WHERE sid IS NOT NULL -- in the staging's physical order (about the file's; sorting cost 5% of a chunk)
    RETURNING 1
)
-- In this order (each subquery runs when first read): the subscribers,
-- subscriptions and mails first, the consent events last, so that the
-- chain's head is held from the first event to the commit only.
SELECT (SELECT count(*) FROM r) AS taken,
       (SELECT count(*) FROM sub) AS new_subscribers,
       COALESCE((SELECT array_agg(id ORDER BY id) FROM msg), '{}') AS messages,
       (SELECT count(*) FROM d WHERE outcome = 'suppressed') AS suppressed,
       (SELECT count(*) FROM d WHERE outcome = 'already') AS already,
       (SELECT count(*) FROM d WHERE outcome = 'unsubscribed') AS unsubscribed,
       (SELECT count(*) FROM d WHERE outcome = 'proof') AS proof,
       (SELECT count(*) FROM d WHERE outcome = 'pending') AS pending,
       (SELECT count(*) FROM logged) AS logged`

// ChunkResult is what one chunk of an import did.
type ChunkResult struct {
	Import     model.Import
	Rows       int64   // rows taken from staging; 0 when none was free
	MessageIDs []int64 // confirmation mails queued in the ledger
}

// ImportChunk processes the next free rows (at most n) of a running import
// in one transaction (importChunkSQL) and adds to its counts. Several may run
// at once: each takes rows no other holds (SKIP LOCKED), and the import's row
// is locked only by the counts' update at the end. An import not running, or
// with no free row, gives Rows 0; FinishImport then ends it. Codes: not_found.
func (s *Store) ImportChunk(ctx context.Context, id int64, n int) (ChunkResult, error) {
	var res ChunkResult
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		res = ChunkResult{}
		im := &res.Import
		if err := tx.GetContext(ctx, im, `SELECT `+importColumns+` FROM imports WHERE id = $1`, id); err != nil {
			return mapErr(err)
		}
		var listID sql.NullInt64
		if err := tx.GetContext(ctx, &listID, `SELECT list_id FROM imports WHERE id = $1`, id); err != nil {
			return mapErr(err)
		}
		if im.State != model.ImportRunning || !listID.Valid {
			return nil
		}
		// The staging rows are unlogged (a crash of PostgreSQL loses them and
		// fails the import anyway), so waiting for each chunk's WAL to reach the
		// disk buys nothing; a chunk stays atomic.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return mapErr(err)
		}
		now := s.Now()
		var c struct {
			Taken, New, Suppressed, Already, Unsubscribed, Proof, Pending, Logged int64
			Messages                                                              pq.Int64Array
		}
		if err := tx.QueryRowxContext(ctx, importChunkSQL, id, n, listID.Int64, now, im.ListSlug, ConfirmInterval.Seconds()).Scan(
			&c.Taken, &c.New, &c.Messages, &c.Suppressed, &c.Already, &c.Unsubscribed, &c.Proof, &c.Pending, &c.Logged); err != nil {
			return mapErr(err)
		}
		res.Rows, res.MessageIDs = c.Taken, c.Messages
		if c.Taken == 0 {
			return nil
		}
		return mapErr(tx.GetContext(ctx, im, `UPDATE imports SET processed = processed + $2, suppressed = suppressed + $3,
    already_confirmed = already_confirmed + $4, kept_unsubscribed = kept_unsubscribed + $5, confirmed_with_proof = confirmed_with_proof + $6,
    awaiting_confirmation = awaiting_confirmation + $7, repermission_queued = repermission_queued + $8, updated_at = $9
WHERE id = $1 RETURNING `+importColumns, id, c.Taken, c.Suppressed, c.Already, c.Unsubscribed, c.Proof, c.Pending, len(c.Messages), now))
	})
	return res, err
}

// FinishImport ends a running import whose chunks found no free row: done
// when every staged row was taken, failed when rows went missing (import_rows
// is unlogged: a PostgreSQL crash empties it) or the list was deleted. It
// reports whether rows are still staged (a chunk that was running rolled
// back): then more chunks are due. Codes: not_found.
func (s *Store) FinishImport(ctx context.Context, id int64) (model.Import, bool, error) {
	var im model.Import
	left := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &im, `SELECT `+importColumns+` FROM imports WHERE id = $1 FOR UPDATE`, id); err != nil {
			return mapErr(err)
		}
		if im.State != model.ImportRunning {
			return nil
		}
		var listID sql.NullInt64
		if err := tx.GetContext(ctx, &listID, `SELECT list_id FROM imports WHERE id = $1`, id); err != nil {
			return mapErr(err)
		}
		now := s.Now()
		if !listID.Valid {
			return s.failImportTx(ctx, tx, &im, "The list was deleted during the import.", now)
		}
		if err := tx.GetContext(ctx, &left, `SELECT EXISTS (SELECT 1 FROM import_rows WHERE import_id = $1)`, id); err != nil || left {
			return mapErr(err)
		}
		if im.Processed < im.Staged {
			return s.failImportTx(ctx, tx, &im, fmt.Sprintf("%d staged rows were lost (PostgreSQL restarted after a crash?). "+
				"Run the import again: rows already imported are recognized.", im.Staged-im.Processed), now)
		}
		return mapErr(tx.GetContext(ctx, &im, `UPDATE imports SET state = 'done', finished_at = $2, updated_at = $2
WHERE id = $1 RETURNING `+importColumns, id, now))
	})
	return im, left, err
}

func (s *Store) failImportTx(ctx context.Context, tx *sqlx.Tx, im *model.Import, why string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM import_rows WHERE import_id = $1`, im.ID); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.GetContext(ctx, im, `UPDATE imports SET state = 'failed', error = $2, finished_at = $3, updated_at = $3
WHERE id = $1 RETURNING `+importColumns, im.ID, truncate(why, 500), now))
}

// ImportByID returns one import. Codes: not_found.
func (s *Store) ImportByID(ctx context.Context, id int64) (model.Import, error) {
	var im model.Import
	err := s.DB.GetContext(ctx, &im, `SELECT `+importColumns+` FROM imports WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return im, apperr.New(apperr.NotFound, "There is no import with this id.")
	}
	return im, mapErr(err)
}

// Imports returns the newest imports, up to limit.
func (s *Store) Imports(ctx context.Context, limit int) ([]model.Import, error) {
	out := []model.Import{}
	err := s.DB.SelectContext(ctx, &out, `SELECT `+importColumns+` FROM imports ORDER BY id DESC LIMIT $1`, limit)
	return out, mapErr(err)
}

// ImportErrors returns the error lines an import kept, by line.
func (s *Store) ImportErrors(ctx context.Context, id int64) ([]model.ImportError, error) {
	out := []model.ImportError{}
	err := s.DB.SelectContext(ctx, &out, `SELECT line, reason FROM import_errors WHERE import_id = $1 ORDER BY line`, id)
	return out, mapErr(err)
}

// StalledImports returns the imports queued or running that have not moved
// since before (their task was lost with Redis, or their worker died).
func (s *Store) StalledImports(ctx context.Context, before time.Time) ([]int64, error) {
	var ids []int64
	err := s.DB.SelectContext(ctx, &ids, `SELECT id FROM imports WHERE state IN ('queued', 'running') AND updated_at < $1 ORDER BY id LIMIT 100`, before)
	return ids, mapErr(err)
}

// FailAbandonedImports ends the imports still receiving their file since
// before and not being received any more: the upload broke off with its
// process (the staging transaction was rolled back, so nothing of it is
// left). An upload in progress holds its import's row lock and is skipped.
func (s *Store) FailAbandonedImports(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE imports SET state = 'failed', error = 'The upload of the file did not finish.', finished_at = $2, updated_at = $2
WHERE id IN (SELECT id FROM imports WHERE state = 'receiving' AND updated_at < $1 FOR UPDATE SKIP LOCKED)`, before, s.Now())
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}

// ConsentTextExists says whether a consent text of this version is stored.
func (s *Store) ConsentTextExists(ctx context.Context, version string) (bool, error) {
	var ok bool
	err := s.DB.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM consent_texts WHERE version = $1)`, version)
	return ok, mapErr(err)
}
