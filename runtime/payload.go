package runtime

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// startPayload starts the payload through the spawner: in its own
// session, or with -t on a fresh pty of the container's devpts as its
// controlling terminal (whose master goes to sandbox first).
func startPayload(spec *Spec, sp *spawner) (int, chan unix.WaitStatus, error) {
	p := spec.Process
	req := procRequest{Args: p.Args, Env: p.Env, Cwd: p.Cwd, User: p.User, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	if p.Terminal {
		master, slave, err := openPty(p.Rows, p.Cols)
		if err != nil {
			return 0, nil, &Error{Code: 125, Msg: err.Error(), Err: err}
		}
		if err := sendFd(os.NewFile(fdConsole, "console"), master); err != nil {
			return 0, nil, &Error{Code: 125, Msg: fmt.Sprintf("handing the terminal to sandbox: %v", err), Err: err}
		}
		master.Close()
		defer slave.Close()
		req.Files, req.Ctty = []*os.File{slave, slave, slave}, true
	}
	return sp.spawn(req)
}

// execError maps a failed execve to docker's exit codes: 127 when the
// command does not exist, 126 when it exists but cannot be run.
func execError(name string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.ENOENT, unix.ENOTDIR:
			return &Error{Code: 127, Msg: fmt.Sprintf("running %q: no such file or directory", name)}
		case unix.EACCES, unix.EPERM, unix.ENOEXEC, unix.EISDIR:
			return &Error{Code: 126, Msg: fmt.Sprintf("running %q: %v", name, errno)}
		}
	}
	return &Error{Code: 126, Msg: fmt.Sprintf("running %q: %v", name, err), Err: err}
}

// withHome is env with HOME=home added unless it has a HOME, as docker
// gives the user's home from the image's /etc/passwd. env is not changed.
func withHome(env []string, home string) []string {
	if hasEnv(env, "HOME") {
		return env
	}
	return append(env[:len(env):len(env)], "HOME="+home)
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}
