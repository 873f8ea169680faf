package runtime

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// A pod is containers that share a user, network, IPC and UTS namespace.
// A multi-threaded Go process cannot enter a user namespace (setns), so a
// member cannot be started from outside: the pod's infra init, which lives
// in those namespaces, starts each member's init as its own child, in a
// mount and PID namespace of the member's own (docs/handshake.md, "Pods").
// The infra init keeps the host's view of the filesystem (it never
// pivots, and runs nothing of a user's): a member's init then finds its
// layers, volumes and /etc files at the same paths as any container's.

// memberRequest asks an infra init to start a member's init: the program
// and arguments the parent would have executed, with the descriptors it
// would have passed (0, 1, 2 and then the handshake's) in the message.
type memberRequest struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
}

// podInfra is the infra init's life once it has its spec: it never
// returns. It holds the pod's namespaces, starts members on request, and
// ends (killing its members) on a terminating signal.
func podInfra(spec *Spec, l *net.UnixListener, sigs chan os.Signal) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		fail(125, "making the pod's mount namespace private: %v", err)
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			fail(125, "setting the hostname %q: %v", spec.Hostname, err)
		}
	}
	if spec.NetworkWait {
		waitNetwork(sigs, nil)
	}
	if l == nil {
		fail(125, "a pod's infra needs a socket for its members")
	}
	started, ended := make(chan *os.Process, 16), make(chan *os.Process, 16)
	go func() {
		for {
			conn, err := l.AcceptUnix()
			if err != nil {
				return
			}
			go startMember(conn, started, ended)
		}
	}()
	report(status{Type: "started", Pid: os.Getpid()})
	closeStatus()
	// SIGCHLD is not for us to forward: members are reaped by their
	// starters (Process.Wait).
	live := map[*os.Process]bool{}
	for {
		select {
		case p := <-started:
			live[p] = true
		case p := <-ended:
			delete(live, p)
		case s := <-sigs:
			switch s {
			case unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT:
				// The pod ends: its members with it.
				for p := range live {
					p.Kill()
				}
				os.Exit(0)
			}
		}
	}
}

// startMember starts one member's init as asked on conn, answers its pid,
// then its exit status.
func startMember(conn *net.UnixConn, started, ended chan<- *os.Process) {
	defer conn.Close()
	payload, files, ok := readRequest(conn, 32)
	if !ok {
		return
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	reply := func(r execReply) {
		b, _ := json.Marshal(r)
		conn.Write(b)
	}
	var req memberRequest
	if err := json.Unmarshal(payload, &req); err != nil || len(files) < 6 {
		reply(execReply{Error: "a malformed member request", Code: 125})
		return
	}
	p, err := os.StartProcess(req.Path, req.Args, &os.ProcAttr{
		Env: req.Env, Files: files,
		Sys: &syscall.SysProcAttr{
			// Its own root and its own PID 1; the pod's user, network,
			// IPC and UTS namespaces are ours.
			Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID,
			Setsid:     true,
			Pdeathsig:  unix.SIGKILL,
		},
	})
	if err != nil {
		reply(execReply{Error: fmt.Sprintf("starting a member of the pod: %v", err), Code: 125})
		return
	}
	started <- p
	for _, f := range files {
		f.Close()
	}
	files = nil
	reply(execReply{Pid: p.Pid})
	st, err := p.Wait()
	ended <- p
	code := 125
	if err == nil {
		code = statusCode(st.Sys().(syscall.WaitStatus))
	}
	reply(execReply{Exit: &code})
}

// pid is the child's pid, in our PID namespace.
func (c *child) pid() int {
	if c.pod != nil {
		return c.podPid
	}
	return c.procPid
}

// signal sends s to the child.
func (c *child) signal(s os.Signal) error {
	if c.pod != nil {
		return unix.Kill(c.podPid, s.(syscall.Signal))
	}
	// Only while it is unreaped: after that the pid may be another's.
	c.reap.Lock()
	defer c.reap.Unlock()
	if c.exited {
		return os.ErrProcessDone
	}
	sig, ok := s.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signal %v: not a system signal", s)
	}
	return unix.Kill(c.procPid, sig)
}

func (c *child) kill() { c.signal(unix.SIGKILL) }

// startInPod has the infra listening on socket start the child as
// c.cmd describes it, with the same descriptors, and sends it payload.
func (c *child) startInPod(socket string, specW *os.File, payload any) error {
	c.specW = specW
	fail := func(err error) error {
		c.close()
		specW.Close()
		return &Error{Code: 125, Msg: fmt.Sprintf("starting a member of the pod: %v", err), Err: err}
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return fail(fmt.Errorf("the pod's infra does not answer (is the pod running?): %w", err))
	}
	stdio := []any{c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr}
	var fds []int
	for i, s := range stdio {
		f, ok := s.(*os.File)
		if !ok || f == nil {
			flag := os.O_WRONLY
			if i == 0 {
				flag = os.O_RDONLY
			}
			if f, err = os.OpenFile(os.DevNull, flag, 0); err != nil {
				conn.Close()
				return fail(err)
			}
			defer f.Close()
		}
		fds = append(fds, int(f.Fd()))
	}
	for _, f := range c.cmd.ExtraFiles {
		fds = append(fds, int(f.Fd()))
	}
	b, _ := json.Marshal(memberRequest{Path: c.cmd.Path, Args: c.cmd.Args, Env: c.cmd.Env})
	if _, _, err := conn.WriteMsgUnix(b, unix.UnixRights(fds...), nil); err != nil {
		conn.Close()
		return fail(err)
	}
	var r execReply
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err == nil {
		err = json.Unmarshal(buf[:n], &r)
	}
	if err == nil && r.Error != "" {
		err = fmt.Errorf("%s", r.Error)
	}
	if err != nil {
		conn.Close()
		return fail(err)
	}
	c.pod, c.podPid = conn, r.Pid
	Trace("init started by the pod's infra")
	go func() {
		// The infra reaps the member and says how it ended; a lost
		// connection (the infra killed) ends it too, killed.
		c.podExit = 137
		if n, err := conn.Read(buf); err == nil {
			var r execReply
			if json.Unmarshal(buf[:n], &r) == nil && r.Exit != nil {
				c.podExit = *r.Exit
			}
		}
		c.reap.Lock()
		c.exited = true
		c.reap.Unlock()
		close(c.done)
	}()
	if payload != nil {
		if err := <-c.sendPayload(payload); err != nil {
			c.kill()
			<-c.done
			return specError(err)
		}
	}
	return nil
}
