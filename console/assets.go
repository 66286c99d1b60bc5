//go:build !no_ui

package console

import (
	"embed"
	"io/fs"
)

//go:embed assets
var embedded embed.FS

// assets are the console's files: the assets folder of embedded.
var assets = func() fs.FS {
	s, err := fs.Sub(embedded, "assets")
	if err != nil {
		panic(err) // the folder is embedded at build time
	}
	return s
}()
