//go:build amd64

package idle

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// While ForwardWhileExecuting's handlers are in place, a signal sent to
// this process goes on to the given process at once, with no goroutine
// of ours involved; once restored, the runtime has the signal again.
func TestForwardWhileExecuting(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skip("no sleep to forward to:", err)
	}
	defer child.Process.Kill()
	restore := ForwardWhileExecuting(child.Process.Pid, 1<<(uint(syscall.SIGUSR1)-1))
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	done := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := child.Process.Wait()
		done <- st
	}()
	select {
	case st := <-done:
		ws := st.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGUSR1 {
			t.Errorf("the process forwarded to ended %v, want killed by SIGUSR1", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGUSR1 sent to this process never reached the one it was to be forwarded to")
	}
	restore()
	got := make(chan os.Signal, 1)
	signal.Notify(got, syscall.SIGUSR1)
	defer signal.Stop(got)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("after restore, the runtime no longer gets SIGUSR1")
	}
}
