package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/plan"
)

// procRequest is a process to start in the container: the payload, or one
// `sandbox exec` asks for.
type procRequest struct {
	Args []string
	Env  []string
	Cwd  string
	User string
	// Files are its stdin, stdout and stderr.
	Files []*os.File
	// Ctty makes Files[0] (a pty slave) its controlling terminal.
	Ctty bool
}

// spawner starts every container process from one OS thread whose
// bounding set and no_new_privs were restricted (both are per thread in
// Linux and copied by fork). The init's other threads keep their
// capabilities: it needs them for nothing after setup, but Go may run its
// own work anywhere.
type spawner struct {
	spec *Spec
	reqs chan spawnCall
	// sealed starts the thread, once, and reports how its sealing went.
	sealed func() error
	// exits delivers the status of processes reaped by the init's wait
	// loop to whoever started them.
	mu    sync.Mutex
	exits map[int]chan unix.WaitStatus
}

type spawnCall struct {
	req   prepared
	reply chan spawnResult
}

type spawnResult struct {
	pid  int
	exit chan unix.WaitStatus
	err  error
}

// newSpawner locks a goroutine to a fresh thread, seals it (sealThread)
// and serves start requests from it. The sealing goes on while the caller
// goes on (the init assembles the root meanwhile); wait reports how it
// went (if it failed, wait tries once more and reports that).
func newSpawner(spec *Spec) *spawner {
	s := newLazySpawner(spec)
	go s.sealed()
	return s
}

// newLazySpawner is a spawner whose thread is made at its first spawn
// (or wait): a resident init that is never asked for an exec keeps one
// thread fewer (about 30 KiB of stacks), and no template thread, which
// the Go runtime starts at the first LockOSThread. Its main thread being
// unlocked there, the sealed thread may be the main one: /proc/1/status
// then shows the sealing (bounding set, no_new_privs, seccomp), which
// only the processes started from it have anyway; a sealing that fails
// there leaves that thread idle, as the runtime cannot end a process's
// main thread.
func newLazySpawner(spec *Spec) *spawner {
	s := &spawner{spec: spec, reqs: make(chan spawnCall), exits: map[int]chan unix.WaitStatus{}}
	var mu sync.Mutex
	ok := false
	// Not sync.OnceValue: a failed sealing (the user's key quota full,
	// say) is tried again at the next spawn, on a fresh thread.
	s.sealed = func() error {
		mu.Lock()
		defer mu.Unlock()
		if ok {
			return nil
		}
		sealed := make(chan error, 1)
		go func() {
			// Never unlocked: the thread dies with the goroutine, not reused.
			// New threads of the init are never cloned from a locked one (the
			// Go runtime asks its template thread), so nothing done to this
			// one spreads to them.
			goruntime.LockOSThread()
			if err := sealThread(spec); err != nil {
				sealed <- err
				return
			}
			sealed <- nil
			for call := range s.reqs {
				call.reply <- s.start(call.req)
			}
		}()
		err := <-sealed
		ok = err == nil
		return err
	}
	return s
}

// wait waits until the spawner's thread is sealed, making it first if
// need be.
func (s *spawner) wait() error {
	if err := s.sealed(); err != nil {
		return &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	return nil
}

// spawn starts req and returns its pid and a channel that gets its wait
// status once the init reaps it. Everything but the fork and exec is done
// here, on the caller's thread: the sealed one is under the seccomp
// filter, which may refuse what preparing needs (a profile that denies
// mkdir must not keep the working directory from being made).
func (s *spawner) spawn(req procRequest) (int, chan unix.WaitStatus, error) {
	if err := s.wait(); err != nil {
		return 0, nil, err
	}
	p, err := s.prepare(req)
	if err != nil {
		return 0, nil, err
	}
	reply := make(chan spawnResult, 1)
	s.reqs <- spawnCall{req: p, reply: reply}
	r := <-reply
	return r.pid, r.exit, r.err
}

// prepared is a procRequest resolved against the container's files.
type prepared struct {
	name, path string
	args, env  []string
	cwd        string
	files      []*os.File
	attr       *syscall.SysProcAttr
}

func (s *spawner) prepare(req procRequest) (prepared, error) {
	if len(req.Args) == 0 {
		return prepared{}, &Error{Code: 125, Msg: "no command given and the image has neither Entrypoint nor Cmd"}
	}
	u, err := resolveUser(req.User, s.spec.Process.GroupAdd, s.spec.UIDs, s.spec.GIDs)
	if err != nil {
		return prepared{}, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	env := withHome(req.Env, u.Home)
	cwd := req.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// Like docker, a missing working directory is created (owned by root).
	if err := workDirPlan(cwd).Run(); err != nil {
		return prepared{}, &Error{Code: 125, Msg: err.Error(), Err: err}
	}
	path, err := lookPath(req.Args[0], env)
	if err != nil {
		return prepared{}, err
	}
	attr := &syscall.SysProcAttr{Setsid: true, Setctty: req.Ctty}
	// With a full map, set the groups too: otherwise the process keeps the
	// user's host groups, which show up as nogroup. In single-id mode the
	// kernel denies setgroups (the gid map was written without privilege),
	// so the groups stay as they are.
	if s.spec.GIDs > 1 || u.UID != 0 || u.GID != 0 {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups, NoSetGroups: s.spec.GIDs <= 1}
	}
	return prepared{name: req.Args[0], path: path, args: req.Args, env: env, cwd: cwd, files: req.Files, attr: attr}, nil
}

// start forks and executes p; it runs on the sealed thread.
func (s *spawner) start(p prepared) spawnResult {
	exit := make(chan unix.WaitStatus, 1)
	// Started and registered under the lock the reaper takes to deliver:
	// a process that exits at once is reaped, but not delivered, before
	// it is registered.
	s.mu.Lock()
	defer s.mu.Unlock()
	// syscall's ForkExec, not os.StartProcess: the init reaps its
	// children itself and wants no os.Process, whose first making in a
	// process tests that pidfds work with a clone of its own (0.5–1.5 ms
	// here, on every start's path and on a resident init's first exec).
	files := make([]uintptr, len(p.files))
	for i, f := range p.files {
		files[i] = ^uintptr(0) // closed in the child
		if f != nil {
			files[i] = f.Fd()
		}
	}
	pid, err := syscall.ForkExec(p.path, p.args, &syscall.ProcAttr{Dir: p.cwd, Env: p.env, Files: files, Sys: p.attr})
	goruntime.KeepAlive(p.files)
	if err != nil {
		return spawnResult{err: execError(p.name, err)}
	}
	s.exits[pid] = exit
	return spawnResult{pid: pid, exit: exit}
}

// adopt registers pid, a child an earlier image of this init started
// (reexecResident), for its status. Called before the reaper starts.
func (s *spawner) adopt(pid int) chan unix.WaitStatus {
	exit := make(chan unix.WaitStatus, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exits[pid] = exit
	return exit
}

// signal sends sig to pid, a process the spawner started, unless its
// status has been delivered already: by then the pid may be another
// process's. (A status is delivered right after the reap, under the
// lock this takes; a pid given again in between would take the kernel
// running through every other pid first.)
func (s *spawner) signal(pid int, sig unix.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.exits[pid]; ok {
		unix.Kill(pid, sig)
	}
}

// reaped hands a reaped child's status to its starter. Children nobody
// started through the spawner (orphans re-parented to us, fuse-overlayfs)
// are just forgotten.
func (s *spawner) reaped(pid int, ws unix.WaitStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.exits[pid]; ok {
		delete(s.exits, pid)
		ch <- ws
	}
}

// exitCode is docker's exit code for a wait status.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// workDirPlan makes the working directory cwd if it is missing, in the
// root the calling process has (after the pivot).
func workDirPlan(cwd string) *plan.Plan {
	p := plan.New("/")
	if cwd != "/" {
		p.OpenRootAt("/")
		p.MkdirAll(fmt.Sprintf("creating the working directory %q", cwd), cwd)
		p.CloseRoot()
	}
	return p
}
