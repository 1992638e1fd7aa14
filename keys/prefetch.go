//go:build (amd64 || arm64) && !purego

package keys

import "unsafe"

// prefetch asks the CPU to bring the line at addr into its caches, and
// returns at once (prefetch_$GOARCH.s: one instruction). It is a hint: it
// changes no memory and cannot fault. Build with -tags purego for the Go
// no-op.
//
//go:noescape
func prefetch(addr unsafe.Pointer)
