//go:build tools

// Package walg pins the wal-g release that the lab builds; it is never compiled.
package walg

import _ "github.com/wal-g/wal-g/main/pg"
