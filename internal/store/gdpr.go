package store

import (
	"context"

	"github.com/lib/pq"
)

// BackfillEmailHashes gives every subscriber without one the keyed hash of
// its address (subscribers made before migration 00017), in batches; it
// returns how many it filled. Run after migrating.
func (s *Store) BackfillEmailHashes(ctx context.Context) (int, error) {
	total := 0
	for {
		var rows []struct {
			ID    int64  `db:"id"`
			Email string `db:"email"`
		}
		if err := s.DB.SelectContext(ctx, &rows, `SELECT id, email FROM subscribers WHERE email_hash IS NULL ORDER BY id LIMIT 5000`); err != nil {
			return total, mapErr(err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		ids, hs := make(pq.Int64Array, len(rows)), make(pq.ByteaArray, len(rows))
		for i, r := range rows {
			ids[i], hs[i] = r.ID, s.Pseudo.Email(r.Email)
		}
		if _, err := s.DB.ExecContext(ctx, `UPDATE subscribers s SET email_hash = u.h FROM unnest($1::bigint[], $2::bytea[]) AS u(id, h) WHERE s.id = u.id`, ids, hs); err != nil {
			return total, mapErr(err)
		}
		total += len(rows)
	}
}
