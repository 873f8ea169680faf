package backend

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/transfer/wire"
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

// A panic in the library fails its call with an error, instead of
// taking the whole service down (the backend here has no store).
func TestHandleRecoversPanic(t *testing.T) {
	s := &Server{B: &Backend{}}
	s.once.Do(s.init)
	s.handlers["Find"] = func(*wire.Msg, []*os.File) (*wire.Msg, error) { panic("a bug") }
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = s.Handle(&wire.Msg{Op: "Find", Data: []byte(`["x"]`)}, []*os.File{r})
	if err == nil || !strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "a bug") {
		t.Fatalf("Handle = %v, want an internal error", err)
	}
	// The call's descriptors are closed however it ended.
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("the call's descriptor is still open after a panic")
	}
}
