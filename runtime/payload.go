package runtime

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// startPayload starts the payload as the container's user, in its own
// session (with -t: on a fresh pty of the container's devpts, as its
// controlling terminal), with the bounding set reduced and no_new_privs.
func startPayload(spec *Spec) (int, error) {
	p := spec.Process
	if len(p.Args) == 0 {
		return 0, &Error{Code: 125, Msg: "no command given and the image has neither Entrypoint nor Cmd"}
	}
	u, err := resolveUser(p.User, spec.UIDs, spec.GIDs)
	if err != nil {
		return 0, &Error{Code: 125, Msg: err.Error()}
	}
	env := p.Env
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+u.Home)
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// Like docker, a missing working directory is created (owned by root).
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		return 0, &Error{Code: 125, Msg: fmt.Sprintf("creating the working directory %q: %v", cwd, err)}
	}
	path, err := lookPath(p.Args[0], env)
	if err != nil {
		return 0, err
	}

	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	attr := &syscall.SysProcAttr{Setsid: true}
	if p.Terminal {
		master, slave, err := openPty(p.Rows, p.Cols)
		if err != nil {
			return 0, &Error{Code: 125, Msg: err.Error()}
		}
		if err := sendFd(os.NewFile(fdConsole, "console"), master); err != nil {
			return 0, &Error{Code: 125, Msg: fmt.Sprintf("handing the terminal to sandbox: %v", err)}
		}
		master.Close()
		defer slave.Close()
		files = []*os.File{slave, slave, slave}
		attr.Setctty = true
		attr.Ctty = 0
	}
	// With a full map, set the groups too: otherwise the payload keeps the
	// user's host groups, which show up as nogroup. In single-id mode the
	// kernel denies setgroups (the gid map was written without privilege),
	// so the groups stay as they are.
	if spec.GIDs > 1 || u.UID != 0 || u.GID != 0 {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups, NoSetGroups: spec.GIDs <= 1}
	}
	// From here on this goroutine stays on one thread: the restricted one
	// every container process is forked from.
	goruntime.LockOSThread()
	if err := restrictThread(); err != nil {
		return 0, &Error{Code: 125, Msg: err.Error()}
	}
	proc, err := os.StartProcess(path, p.Args, &os.ProcAttr{Dir: cwd, Env: env, Files: files, Sys: attr})
	if err != nil {
		return 0, execError(p.Args[0], err)
	}
	return proc.Pid, nil
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
	return &Error{Code: 126, Msg: fmt.Sprintf("running %q: %v", name, err)}
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}
