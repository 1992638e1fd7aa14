//go:build !(amd64 || arm64) || purego

package keys

import "unsafe"

// prefetch is a no-op here: see prefetch.go.
func prefetch(unsafe.Pointer) {}
