// Package locales holds the translations of the subscriber pages and system
// mails (go-i18n message files, one per language; see internal/locale).
package locales

import "embed"

// FS holds the *.json message files.
//
//go:embed *.json
var FS embed.FS
