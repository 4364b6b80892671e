// Package migrations holds the SQL schema migrations (goose format), embedded in
// the binary. Files are forward-only and never edited once merged.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
