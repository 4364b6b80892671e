// Package static holds the CSS and other assets served under /static/.
package static

import "embed"

// FS holds app.css, pow.js and vendor/.
//
//go:embed app.css admin.css pow.js vendor
var FS embed.FS
