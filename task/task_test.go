package task

import (
	"io"
	"slices"
	"testing"
)

func TestRegister(t *testing.T) {
	called := false
	Register("test-one", func([]string, io.Reader) error { called = true; return nil })
	fn, ok := Lookup("test-one")
	if !ok {
		t.Fatal("a registered task is not found")
	}
	fn(nil, nil)
	if !called {
		t.Fatal("Lookup returned another function")
	}
	if !slices.Contains(Names(), "test-one") {
		t.Fatalf("Names() = %v lacks test-one", Names())
	}
	if _, ok := Lookup("test-none"); ok {
		t.Fatal("an unregistered task was found")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	Register("test-one", func([]string, io.Reader) error { return nil })
}
