package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/textpages"
)

// textName is the name ps shows for the init program's "text" stage.
const textName = "sandbox-text"

// How long the text stage waits for the command that started it to exit
// (while it runs, it holds most of the program's pages, which cannot be
// dropped; it starts the stage as it ends), and then how long it tries
// again for regions that other sandbox processes hold a page of (a shell
// left open). Bounded both: the stage is a process of the user's.
const (
	textWaitStarter = 10 * time.Minute
	textRetry       = 10 * time.Minute
)

// StartTextHeal starts, once per boot for each build of this binary (and
// again, at most every textpages.Recheck, if the kernel has since taken
// those folios back), the init program's "text" stage: once this command
// has exited, it puts this binary's code in the page cache as 2 MiB
// folios (package textpages), which makes every later command start
// faster. The CLI calls it as a command that opened the store ends.
// runDir is the user's runtime directory, where the mark is kept (a
// command that finds no such directory yet skips). It costs a command
// two stat calls; the one in each Recheck that checks, about 0.2 ms more;
// one that starts the stage, a process start.
func StartTextHeal(runDir string) {
	if runDir == "" {
		return
	}
	mark := textpages.Claim(runDir)
	if mark == nil {
		return
	}
	defer mark.Close()
	if err := startText(runDir, mark); err != nil {
		// Leave the mark: a failure here would fail again at once.
		fmt.Fprintf(mark, "not started: %v\n", err)
		Trace("text stage not started: %v", err)
	}
}

func startText(runDir string, mark *os.File) error {
	exe := openInit(runDir)
	if exe == nil {
		// The whole CLI as the stage would hold the very pages it must drop.
		return fmt.Errorf("no init program")
	}
	defer exe.Close()
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer self.Close()
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	starter := os.NewFile(uintptr(pidfd), "pidfd")
	defer starter.Close()
	// The program to execute is passed as descriptor 6 and executed by
	// that number: the child puts ExtraFiles in place before its execve,
	// which would have replaced exe's own number had it been 3, 4 or 5.
	cmd := &exec.Cmd{
		Path:        "/proc/self/fd/6",
		Args:        []string{textName, "text"},
		Env:         append([]string{initEnv + "=1"}, initRuntimeEnv...),
		Dir:         "/",
		ExtraFiles:  []*os.File{self, starter, mark, exe},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the text stage: %w", err)
	}
	Trace("text stage started")
	// Not waited for: the command exits next, and the stage with it
	// goes to the reaper.
	cmd.Process.Release()
	return nil
}

// textMain is the "text" stage: descriptor 3 is the program whose code
// to put in 2 MiB folios, 4 a pidfd of the command that started the
// stage, 5 the mark (textpages.Claim), where the outcome is written, and
// 6 the init program this runs, which it closes. It never returns.
func textMain() {
	setName(textName)
	unix.Close(6)
	prog, starter, mark := os.NewFile(3, "program"), 4, os.NewFile(5, "mark")
	pfd := []unix.PollFd{{Fd: int32(starter), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, int(textWaitStarter/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(mark, "waiting for the starting command: %v\n", err)
			os.Exit(0)
		}
		if n != 1 {
			fmt.Fprintf(mark, "the starting command still runs after %v\n", textWaitStarter)
			os.Exit(0)
		}
		break
	}
	regions, err := textpages.Regions(prog)
	if err != nil {
		fmt.Fprintf(mark, "%v\n", err)
		os.Exit(0)
	}
	start := time.Now()
	n, err := textpages.Heal(prog, regions, start.Add(textRetry))
	said := textpages.Outcome(n, len(regions), time.Since(start).Round(time.Millisecond))
	if err != nil {
		said += ", then: " + err.Error()
	}
	fmt.Fprintln(mark, said)
	os.Exit(0)
}
