// Package templates holds the server-rendered pages and the mail templates,
// embedded in the binary.
package templates

import "embed"

// FS holds pages/, partials/, mail/ and admin/.
//
//go:embed pages partials mail admin
var FS embed.FS
