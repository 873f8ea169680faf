package api

import (
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/program/programtest"
)

// TestServerLinksNoLibrary: the server reaches the store only through
// calls.Backend, so it links none of the library's code, only its leaf
// packages of plain records. A program that carries it then changes only
// when the server or those records do.
func TestServerLinksNoLibrary(t *testing.T) {
	allowed := map[string]bool{
		"github.com/sandbox-dev/sandbox/api":                      true,
		"github.com/sandbox-dev/sandbox/api/calls":                true,
		"github.com/sandbox-dev/sandbox/container/containertypes": true,
		"github.com/sandbox-dev/sandbox/image/imagetypes":         true,
		"github.com/sandbox-dev/sandbox/cgroups/cgrouptypes":      true,
		"github.com/sandbox-dev/sandbox/transfer/wire":            true,
		"github.com/sandbox-dev/sandbox/network/endpoint":         true,
	}
	for _, p := range programtest.Deps(t, ".") {
		if strings.HasPrefix(p, "github.com/sandbox-dev/sandbox") && !allowed[p] {
			t.Errorf("the API server links %s: reach the store through calls.Backend, and keep records the server reads in leaf packages", p)
		}
	}
}
