//go:build no_ui

package console

import "io/fs"

// assets: none, the no_ui tag leaves them out.
var assets fs.FS
