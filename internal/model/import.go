package model

import "time"

// States of an import.
const (
	ImportReceiving = "receiving" // the file is being read into staging
	ImportQueued    = "queued"    // staged, waiting for the worker
	ImportRunning   = "running"   // staged rows are being moved into subscriptions
	ImportDone      = "done"
	ImportFailed    = "failed"
)

// Import is one CSV import of subscribers into a list, with what it did so far.
// When done, RowsRead = BadRows + Duplicates + Suppressed + ConfirmedWithProof
// + AwaitingConfirmation + AlreadyConfirmed + KeptUnsubscribed.
type Import struct {
	ID       int64  `db:"id" json:"id"`
	ListSlug string `db:"list_slug" json:"list"`
	State    string `db:"state" json:"state"`
	Source   string `db:"source" json:"source"`
	// ConsentTextVersion is the version of the consent text the request carried, if any.
	ConsentTextVersion string `db:"consent_text_version" json:"consent_text_version"`
	RowsRead           int64  `db:"rows_read" json:"rows_read"`
	Staged             int64  `db:"staged" json:"staged"`
	Processed          int64  `db:"processed" json:"processed"`
	BadRows            int64  `db:"bad_rows" json:"bad_rows"`
	Duplicates         int64  `db:"duplicates" json:"duplicates"`
	Suppressed         int64  `db:"suppressed" json:"suppressed"`
	ConfirmedWithProof int64  `db:"confirmed_with_proof" json:"confirmed_with_proof"`
	// AwaitingConfirmation: rows without proof, subscribed unconfirmed; RepermissionQueued of them got a confirmation mail
	// (the others had one less than 15 minutes before).
	AwaitingConfirmation int64      `db:"awaiting_confirmation" json:"awaiting_confirmation"`
	RepermissionQueued   int64      `db:"repermission_queued" json:"repermission_queued"`
	AlreadyConfirmed     int64      `db:"already_confirmed" json:"already_confirmed"`
	KeptUnsubscribed     int64      `db:"kept_unsubscribed" json:"kept_unsubscribed"`
	ErrorsKept           int        `db:"errors_kept" json:"errors_kept"`
	Error                string     `db:"error" json:"error,omitempty"`
	CreatedAt            time.Time  `db:"created_at" json:"created_at"`
	StartedAt            *time.Time `db:"started_at" json:"started_at,omitempty"`
	FinishedAt           *time.Time `db:"finished_at" json:"finished_at,omitempty"`
	UpdatedAt            time.Time  `db:"updated_at" json:"updated_at"`
}

// Imported is how many rows became (or stayed) subscriptions written by the import.
func (i Import) Imported() int64 { return i.ConfirmedWithProof + i.AwaitingConfirmation }

// Finished says the import will change nothing more.
func (i Import) Finished() bool { return i.State == ImportDone || i.State == ImportFailed }

// ImportError is one bad line of an import file. Reason names the field, never its value.
type ImportError struct {
	Line   int64  `db:"line" json:"line"`
	Reason string `db:"reason" json:"reason"`
}
