package runtime

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/network/bridge"
)

// switchName is how a network's switch shows in ps.
const switchName = "sandbox-bridge"

// StartSwitch returns the bridge.Starter that runs a network's switch as
// the small init program's "bridge" stage (runDir: where the program is
// installed). The switch gets its own session, outlives whoever started
// it, and logs to NAME.log beside its socket.
func StartSwitch(runDir string) bridge.Starter {
	return func(dir string, n bridge.Network) error {
		exe := openInit(runDir)
		if exe == nil {
			self, err := os.Open("/proc/self/exe")
			if err != nil {
				return err
			}
			exe = self
		}
		defer exe.Close()
		logPath := filepath.Join(dir, n.Key+".log")
		logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer logf.Close()
		readyR, readyW, err := os.Pipe()
		if err != nil {
			return err
		}
		defer readyR.Close()
		cmd := &exec.Cmd{
			Path:        fmt.Sprintf("/proc/self/fd/%d", exe.Fd()),
			Args:        []string{switchName, "bridge", dir, n.Key, n.Name, n.Subnet.String(), n.Gateway.String()},
			Env:         append([]string{initEnv + "=1"}, initRuntimeEnv...),
			Dir:         "/",
			Stdout:      logf,
			Stderr:      logf,
			ExtraFiles:  []*os.File{readyW},
			SysProcAttr: &syscall.SysProcAttr{Setsid: true},
		}
		err = cmd.Start()
		readyW.Close()
		if err != nil {
			return err
		}
		// Reaped here if it ends while we live; adopted by init after.
		go cmd.Wait()
		// The switch closes its end once it listens, or exits.
		io.Copy(io.Discard, readyR)
		if _, err := os.Stat(filepath.Join(dir, n.Key+".sock")); err != nil {
			b, _ := os.ReadFile(logPath)
			return errors.New(strings.TrimSpace("the switch did not start: " + string(b)))
		}
		return nil
	}
}

// switchMain is the "bridge" stage: DIR KEY NAME SUBNET GATEWAY; fd 3 is the
// pipe it closes once it listens. It never returns.
func switchMain(args []string) {
	setName(switchName)
	unix.CloseRange(4, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if len(args) != 5 {
		fmt.Fprintln(os.Stderr, "sandbox-bridge: bad arguments")
		os.Exit(125)
	}
	subnet, err1 := netip.ParsePrefix(args[3])
	gw, err2 := netip.ParseAddr(args[4])
	if err1 != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "sandbox-bridge: bad subnet %q or gateway %q\n", args[3], args[4])
		os.Exit(125)
	}
	ready := os.NewFile(3, "ready")
	unix.CloseOnExec(3)
	if err := bridge.Serve(args[0], bridge.Network{Key: args[1], Name: args[2], Subnet: subnet, Gateway: gw}, ready); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-bridge: network %s: %v\n", args[2], err)
		os.Exit(1)
	}
	// A clean end leaves no log; the lock file stays (removing a lock
	// others may hold is a race), a few bytes per network.
	os.Remove(filepath.Join(args[0], args[1]+".log"))
	os.Exit(0)
}
