package task

import (
	"fmt"
	"io"
	"sort"
	"sync"
)

// Func is a task: args are what the caller passed to runtime.RunTask,
// stdin its input stream (empty when it gave none).
type Func func(args []string, stdin io.Reader) error

var (
	mu    sync.Mutex
	tasks = map[string]Func{}
)

// Register makes fn runnable under name. Two registrations of one name
// are a programming error: Register panics.
func Register(name string, fn Func) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := tasks[name]; dup {
		panic(fmt.Sprintf("task %q registered twice", name))
	}
	tasks[name] = fn
}

// Lookup returns the task registered under name.
func Lookup(name string) (Func, bool) {
	mu.Lock()
	defer mu.Unlock()
	fn, ok := tasks[name]
	return fn, ok
}

// Names lists the registered tasks, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(tasks))
	for n := range tasks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
