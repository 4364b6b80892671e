// Package static holds the CSS and other assets served under /static/.
package static

import "embed"

// FS holds app.css and vendor/.
//
//go:embed app.css vendor
var FS embed.FS
