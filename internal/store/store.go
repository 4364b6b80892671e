// Package store is Envoi's PostgreSQL layer: every SQL statement lives here, next
// to the method that runs it. It maps sql.ErrNoRows and constraint violations to
// apperr codes and knows nothing of HTTP, SMTP or the job queue.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	neturl "net/url"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/pseudo"
	"github.com/envoi/envoi/migrations"
)

// Store wraps the database handle.
type Store struct {
	DB  *sqlx.DB
	Now func() time.Time
	// Pseudo makes the keyed hashes of personal values (consent log, suppressions).
	Pseudo pseudo.Key

	// Statements on the hot paths, prepared once (per connection, by database/sql)
	// so PostgreSQL does not parse and plan them on every call.
	stmtMu sync.Mutex
	stmts  map[string]*sqlx.Stmt
}

// hotStatements are prepared by Prepare at start-up.
var hotStatements = []string{signupsSQL, claimTransactionalSQL, claimDeliveriesSQL, finishDeliverySQL}

// stmt returns the prepared form of query, preparing it on first use.
func (s *Store) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.DB.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare statement %.60q: %w", query, err)
	}
	if s.stmts == nil {
		s.stmts = map[string]*sqlx.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, url string, maxConns int) (*Store, error) {
	db, err := sqlx.Open("postgres", withGenericPlans(url))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &Store{DB: db, Now: time.Now}, nil
}

// Prepare prepares the hot-path statements; it needs the schema in place, so
// call it after migrating. A broken statement stops start-up, not a visitor.
func (s *Store) Prepare(ctx context.Context) error {
	for _, q := range hotStatements {
		if _, err := s.stmt(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// withGenericPlans asks PostgreSQL to plan each prepared statement once: the hot
// statements are CTEs whose planning costs more than their execution, and
// PostgreSQL would otherwise keep re-planning them per call. It applies to
// every statement with parameters (lib/pq sends them as unnamed prepared
// statements); the admin's searches, whose best plan depends on the values
// (an optional filter, a rare or common substring), run in CustomPlans.
func withGenericPlans(dsn string) string {
	u, err := neturl.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn
	}
	q := u.Query()
	if q.Get("plan_cache_mode") == "" {
		q.Set("plan_cache_mode", "force_generic_plan")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Close closes the pool.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmtMu.Unlock()
	return s.DB.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

func newGoose(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations.FS, ".")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub)
}

// Migrate applies every pending migration and returns how many ran. Concurrent
// callers are serialized by a PostgreSQL advisory lock.
func Migrate(ctx context.Context, db *sql.DB) (int, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(727100001)`); err != nil {
		return 0, fmt.Errorf("lock for migrations: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(727100001)`)
	p, err := newGoose(db)
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range res {
		slog.Info("migration applied", slog.String("file", r.Source.Path), slog.Duration("took", r.Duration))
	}
	return len(res), nil
}

// SchemaUpToDate returns an error naming the gap when migrations are pending.
func SchemaUpToDate(ctx context.Context, db *sql.DB) error {
	p, err := newGoose(db)
	if err != nil {
		return err
	}
	have, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	srcs := p.ListSources()
	want := srcs[len(srcs)-1].Version
	if have < want {
		return fmt.Errorf("database schema is at version %d, this binary needs %d: run `envoi migrate`", have, want)
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

// CustomPlans runs read-only queries in a transaction planned with the values
// of their parameters (plan_cache_mode = auto): searches with optional filters
// get the plan that fits the filters given.
func (s *Store) CustomPlans(ctx context.Context, fn func(q sqlx.QueryerContext) error) error {
	tx, err := s.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = auto`); err != nil {
		return mapErr(err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

// mapErr turns driver errors a caller can act on into apperr codes.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.New(apperr.NotFound, "not found")
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &apperr.Error{Code: apperr.Conflict, Message: "already exists", Field: uniqueField(pe.Constraint)}
		case "23514", "22001":
			return &apperr.Error{Code: apperr.Invalid, Message: "value not allowed", Field: pe.Column}
		}
	}
	return err
}

func uniqueField(constraint string) string {
	switch constraint {
	case "lists_slug_key":
		return "slug"
	case "subscribers_email_key", "subscribers_email_lower_key":
		return "email"
	}
	return ""
}
