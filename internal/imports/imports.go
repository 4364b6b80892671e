// Package imports owns CSV imports of subscribers into a list: reading the
// file row by row (each bad row reported by its line), staging the valid rows
// in PostgreSQL with COPY, and moving them into subscriptions in chunks that
// survive a restart. Nobody is confirmed without proof of consent (date,
// source and text version, stored as such); the others get a confirmation
// mail and stay unconfirmed until they confirm. Suppressed addresses are
// skipped. It knows nothing of HTTP; its SQL is in store/imports.go.
package imports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/store"
)

// Sources of an import.
const (
	SourceCLI   = "cli"
	SourceAPI   = "api"
	SourceAdmin = "admin"
)

// DefaultChunkSize is how many staged rows one transaction moves: large
// enough that a statement's fixed cost is small, small enough that the
// consent chain's head (locked by every consent event until commit) is never
// held for long (~0.3 s) and that a restart redoes little.
const DefaultChunkSize = 10000

// DefaultWorkers is how many chunks run at once: two keep two cores busy (a
// chunk's subscribers, subscriptions and mails run beside another chunk's
// consent events; only these wait for each other, on the chain's head).
const DefaultWorkers = 2

// MaxConsentTextLength is the longest consent text an import may carry.
const MaxConsentTextLength = 10000

// Service runs imports. Build it once; safe for concurrent use.
type Service struct {
	Store *store.Store
	Lists *lists.Service
	Queue *queue.Client // nil: confirmation mails are left to the sweeper
	Log   *slog.Logger
	// ChunkSize is the rows per transaction of Run; 0 for DefaultChunkSize.
	ChunkSize int
	// Workers is how many chunks Run runs at once (each on its own
	// connection); 0 for DefaultWorkers.
	Workers int
	// BeforeChunk, when set, runs before each chunk of Run; an error stops Run
	// there, as a crash would (tests interrupt imports with it).
	BeforeChunk func(ctx context.Context, importID int64) error
}

// Request is an import's file-independent part.
type Request struct {
	List   string // slug
	Source string // cli, api, admin
	// ConsentText is the wording people agreed to, for rows that carry a
	// consent date and source but no consent_text_version: saved as a new
	// version (a hash of it), which those rows then name.
	ConsentText string
}

// Status is an import with its kept error lines.
type Status struct {
	model.Import
	Errors []model.ImportError `json:"errors"`
}

// Stage creates an import, reads the file and stages its valid rows, all in
// one pass: nothing of the file is held in memory but the current row. The
// import is left queued (Run processes it). A file that cannot be read at all
// (no header, an unknown column) or a broken upload fails the import.
// Codes: invalid (Field list, consent_text or file), not_found.
func (s *Service) Stage(ctx context.Context, req Request, file io.Reader) (model.Import, error) {
	l, err := s.Lists.BySlug(ctx, "list", req.List)
	if err != nil {
		return model.Import{}, err
	}
	text := strings.TrimSpace(req.ConsentText)
	if utf8.RuneCountInString(text) > MaxConsentTextLength || !utf8.ValidString(text) {
		return model.Import{}, apperr.FieldError("consent_text", fmt.Sprintf("Keep the consent text under %d characters.", MaxConsentTextLength))
	}
	version := ""
	if text != "" {
		sum := sha256.Sum256([]byte(text))
		version = hex.EncodeToString(sum[:8])
		if err := s.Store.SaveConsentText(ctx, version, text); err != nil {
			return model.Import{}, fmt.Errorf("save consent text: %w", err)
		}
	}
	im, err := s.Store.CreateImport(ctx, l.ID, l.Slug, req.Source, version)
	if err != nil {
		return im, err
	}
	staged, err := s.Store.StageImport(ctx, im.ID, func(add func(store.ImportRow) error) (store.StageResult, error) {
		return s.read(ctx, file, version, add)
	})
	if err != nil {
		why := "The file could not be read to its end."
		if e, ok := apperr.As(err); ok {
			why = e.Message
		}
		if ferr := s.Store.FailImport(context.WithoutCancel(ctx), im.ID, why); ferr != nil {
			s.Log.Warn("mark import failed", slog.Int64("import_id", im.ID), slog.Any("error", ferr))
		}
		return im, err
	}
	s.Log.Info("import staged", slog.Int64("import_id", im.ID), slog.Int64("rows", staged.RowsRead), slog.Int64("staged", staged.Staged),
		slog.Int64("bad_rows", staged.BadRows))
	return staged, nil
}

// read parses the file and hands each valid row to add; bad rows are counted
// and the first store.MaxImportErrors of them kept.
func (s *Service) read(ctx context.Context, file io.Reader, defaultVersion string, add func(store.ImportRow) error) (store.StageResult, error) {
	var res store.StageResult
	rd, err := NewReader(file, s.Store.Now())
	if err != nil {
		return res, err
	}
	known := map[string]bool{}
	if defaultVersion != "" {
		known[defaultVersion] = true
	}
	badRow := func(line int64, reason string) {
		res.BadRows++
		if len(res.Errors) < store.MaxImportErrors {
			res.Errors = append(res.Errors, model.ImportError{Line: line, Reason: reason})
		}
	}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		var le *LineError
		if errors.As(err, &le) {
			res.RowsRead++
			badRow(le.Line, le.Reason)
			continue
		}
		if err != nil {
			return res, fmt.Errorf("read import file after %d rows: %w", res.RowsRead, err)
		}
		res.RowsRead++
		if row.ConsentedAt != nil {
			if row.Version == "" {
				row.Version = defaultVersion
			}
			if row.Version == "" {
				badRow(row.Line, "consent_text_version: empty, and the import carries no consent text: name the version of the text these people agreed to")
				continue
			}
			ok, seen := known[row.Version]
			if !seen {
				if ok, err = s.Store.ConsentTextExists(ctx, row.Version); err != nil {
					return res, err
				}
				if len(known) < 10000 {
					known[row.Version] = ok
				}
			}
			if !ok {
				badRow(row.Line, "consent_text_version: no stored consent text has this version (give the text with the import, or use a version Envoi showed)")
				continue
			}
		}
		if err := add(store.ImportRow{Line: row.Line, Email: row.Email, Name: row.Name, ConsentedAt: row.ConsentedAt,
			ConsentSource: row.Source, ConsentTextVersion: row.Version}); err != nil {
			return res, err
		}
	}
}

// Start stages a file (Stage) and queues the import for a worker.
// Codes: as Stage's.
func (s *Service) Start(ctx context.Context, req Request, file io.Reader) (model.Import, error) {
	im, err := s.Stage(ctx, req, file)
	if err != nil {
		return im, err
	}
	s.enqueue(ctx, im.ID)
	return im, nil
}

func (s *Service) enqueue(ctx context.Context, id int64) {
	if s.Queue == nil {
		return
	}
	if err := s.Queue.EnqueueImport(ctx, id); err != nil {
		s.Log.Warn("enqueue import failed; the sweeper will retry", slog.Int64("import_id", id), slog.Any("error", err))
	}
}

// Run processes a staged import to its end, chunk by chunk, each chunk one
// transaction, Workers chunks at a time; progress is called after each (nil
// for none; never two calls at once). Run again after a crash or an error, it
// goes on from the last committed chunks. It returns the import as it ended.
// Codes: not_found.
func (s *Service) Run(ctx context.Context, id int64, progress func(model.Import)) (model.Import, error) {
	t0 := time.Now()
	im, err := s.Store.StartImport(ctx, id)
	if err != nil || im.Finished() {
		return im, err
	}
	s.Log.Debug("import started", slog.Int64("import_id", id), slog.Int64("duplicates", im.Duplicates), slog.Duration("took", time.Since(t0)))
	n, workers := s.ChunkSize, s.Workers
	if n <= 0 {
		n = DefaultChunkSize
	}
	if workers <= 0 {
		workers = DefaultWorkers
	}
	for round := 0; ; round++ {
		if err := s.chunks(ctx, id, n, workers, progress); err != nil {
			return im, err
		}
		var left bool
		im, left, err = s.Store.FinishImport(ctx, id)
		if err != nil {
			return im, fmt.Errorf("import %d: %w", id, err)
		}
		if !left || round == 10 {
			if im.State == model.ImportDone {
				s.Log.Info("import done", slog.Int64("import_id", id), slog.Int64("confirmed_with_proof", im.ConfirmedWithProof),
					slog.Int64("awaiting_confirmation", im.AwaitingConfirmation), slog.Int64("suppressed", im.Suppressed),
					slog.Duration("took", time.Since(t0)))
			}
			return im, nil
		}
	}
}

// chunks runs workers loops of chunks until none finds a free row; the first
// error stops them all.
func (s *Service) chunks(ctx context.Context, id int64, n, workers int, progress func(model.Import)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex // progress and BeforeChunk, one call at a time
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if s.BeforeChunk != nil {
					mu.Lock()
					err := s.BeforeChunk(ctx, id)
					mu.Unlock()
					if err != nil {
						cancel(err)
						return
					}
				}
				t0 := time.Now()
				res, err := s.chunk(ctx, id, n)
				if err != nil {
					cancel(fmt.Errorf("import %d: %w", id, err))
					return
				}
				s.Log.Debug("import chunk", slog.Int64("import_id", id), slog.Int64("rows", res.Rows), slog.Duration("took", time.Since(t0)))
				s.enqueueMails(ctx, res.MessageIDs)
				if res.Rows == 0 {
					return
				}
				if progress != nil {
					mu.Lock()
					progress(res.Import)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// enqueueMails hands a chunk's confirmation mails to the queue; one that
// fails stays queued in the ledger, for the sweeper.
func (s *Service) enqueueMails(ctx context.Context, ids []int64) {
	if s.Queue == nil {
		return
	}
	for _, m := range ids {
		if err := s.Queue.EnqueueTransactional(ctx, m); err != nil {
			s.Log.Warn("enqueue confirmation failed; the sweeper will retry", slog.Int64("message_id", m), slog.Any("error", err))
			return
		}
	}
}

// chunk runs one chunk, taking it again after a failure (a chunk rolls back
// whole: a concurrent signup of one of its addresses, a deadlock) up to twice.
func (s *Service) chunk(ctx context.Context, id int64, n int) (store.ChunkResult, error) {
	var err error
	for try := 0; try < 3; try++ {
		var res store.ChunkResult
		if res, err = s.Store.ImportChunk(ctx, id, n); err == nil || ctx.Err() != nil {
			return res, err
		}
		s.Log.Warn("import chunk failed; taking it again", slog.Int64("import_id", id), slog.Int("try", try+1), slog.Any("error", err))
	}
	return store.ChunkResult{}, err
}

// Import returns an import with its kept error lines. Codes: not_found.
func (s *Service) Import(ctx context.Context, id int64) (Status, error) {
	im, err := s.Store.ImportByID(ctx, id)
	if err != nil {
		return Status{}, err
	}
	errs, err := s.Store.ImportErrors(ctx, id)
	return Status{Import: im, Errors: errs}, err
}

// Imports returns the 100 newest imports.
func (s *Service) Imports(ctx context.Context) ([]model.Import, error) {
	return s.Store.Imports(ctx, 100)
}

// Sweep queues again the imports that have not moved for age (their task
// was lost with Redis, or their worker died) and fails uploads that broke off.
func (s *Service) Sweep(ctx context.Context, age time.Duration) (int, error) {
	before := s.Store.Now().Add(-age)
	if _, err := s.Store.FailAbandonedImports(ctx, before); err != nil {
		return 0, err
	}
	ids, err := s.Store.StalledImports(ctx, before)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		s.enqueue(ctx, id)
	}
	return len(ids), nil
}

// RunSweeper sweeps every interval until ctx ends (the worker runs it).
func (s *Service) RunSweeper(ctx context.Context, every, age time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Sweep(ctx, age); err != nil && ctx.Err() == nil {
				s.Log.Warn("import sweep failed", slog.Any("error", err))
			} else if n > 0 {
				s.Log.Info("sweeper re-enqueued imports", slog.Int("count", n))
			}
		}
	}
}
