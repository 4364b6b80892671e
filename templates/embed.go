// Package templates holds the server-rendered pages and the mail templates,
// embedded in the binary.
package templates

import "embed"

// FS holds pages/, partials/, mail/, admin/ and gdpr/ (the record of processing as a document).
//
//go:embed pages partials mail admin gdpr
var FS embed.FS
