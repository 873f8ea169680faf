package endthread

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// Run runs f on a thread of its own, never the main one (which the Go
// runtime does not end), and returns once f has returned and that thread
// is gone, or an error if it is still there after five seconds.
func Run(f func()) error {
	tid := make(chan int)
	go onThread(f, tid)
	t := <-tid
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", t)); err != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("thread %d did not end", t)
		}
	}
}

// onThread runs f locked to its thread and never unlocks it: the runtime
// ends such a thread with its goroutine. On the main thread it runs again
// on another, holding this one meanwhile so that the next is not it.
func onThread(f func(), tid chan<- int) {
	runtime.LockOSThread()
	if syscall.Gettid() == os.Getpid() {
		inner := make(chan int)
		go onThread(f, inner)
		tid <- <-inner
		runtime.UnlockOSThread()
		return
	}
	f()
	tid <- syscall.Gettid()
}
