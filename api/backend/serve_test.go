package backend

import (
	"reflect"
	"testing"

	"github.com/sandbox-dev/sandbox/api/calls"
)

// TestEveryCallServed: each method of calls.Backend, which calls.Remote
// sends by its name, has a handler here, and nothing else does but the
// exec session's own calls.
func TestEveryCallServed(t *testing.T) {
	s := &Server{B: &Backend{}}
	s.init()
	it := reflect.TypeFor[calls.Backend]()
	methods := map[string]bool{"ExecWait": true, "ExecClose": true}
	for i := range it.NumMethod() {
		name := it.Method(i).Name
		methods[name] = true
		if s.handlers[name] == nil {
			t.Errorf("calls.Backend.%s has no handler", name)
		}
	}
	for name := range s.handlers {
		if !methods[name] {
			t.Errorf("handler %q answers no method of calls.Backend", name)
		}
	}
}
