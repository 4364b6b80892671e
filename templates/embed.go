// Package templates holds the server-rendered pages and the mail templates,
// embedded in the binary.
package templates

import "embed"

// FS holds pages/, partials/ and mail/.
//
//go:embed pages partials mail
var FS embed.FS
