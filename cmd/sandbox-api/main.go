// Command sandbox-api is the Docker Engine API server of `sandbox system
// service` (package api): the HTTP server, the API's own types and their
// translation, which cost every start of a program that links them
// (net/http, TLS, the Docker types and go-digest: about 0.4 ms of package
// initialisation and 5 MB of mapped code), so the CLI carries this
// program (api/apibin) and runs it only to serve. It is not meant to be
// run by hand.
//
// The CLI starts it with a unix stream socket to itself as descriptor 4
// and the listening socket as 5. The server answers HTTP on 5 and reaches
// the store only by calling the CLI on 4 (api/calls: Remote); the CLI
// answers with the library (api/backend). The program ends when its idle
// time passes or the CLI goes.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/api"
	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// The descriptors the CLI passes: the program itself (which it was
// started through), the socket to the CLI, the listening socket.
const (
	exeFD      = 3
	socketFD   = wire.SocketFD
	listenerFD = wire.SocketFD + 1
)

// progName is the process's name, NUL-terminated (at most 15 bytes).
var progName = []byte("sandbox-api\x00")

func main() {
	// Executed through /proc/self/fd/3, the kernel named this process
	// "3": ps should say what it is.
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&progName[0])), 0, 0, 0)
	// Nothing a container started through the API inherits the sockets:
	// they reach the store and the user's API.
	unix.CloseRange(exeFD+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	unix.Close(exeFD)
	if len(os.Args) != 3 {
		fail("want IDLE-SECONDS and SANDBOX-VERSION (the CLI starts this program; it is not meant to be run by hand)")
	}
	idle, err := strconv.Atoi(os.Args[1])
	if err != nil || idle < 0 {
		fail(fmt.Sprintf("idle time %q: want whole seconds", os.Args[1]))
	}
	for _, fd := range []int{socketFD, listenerFD} {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			fail(fmt.Sprintf("no descriptor %d (the CLI starts this program; it is not meant to be run by hand)", fd))
		}
	}
	peer := wire.NewPeer(os.NewFile(socketFD, "store"), nil)
	peer.Start()
	lf := os.NewFile(listenerFD, "listener")
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		fail(fmt.Sprintf("the listening socket: %v", err))
	}
	// The CLI gone, no call can be answered: end.
	go func() {
		<-peer.Done()
		os.Exit(1)
	}()
	srv := &api.Server{B: calls.Remote{Peer: peer}, Idle: time.Duration(idle) * time.Second, SandboxVersion: os.Args[2],
		Warn: func(s string) { fmt.Fprintln(os.Stderr, "sandbox: "+s) }}
	if err := srv.Serve(l); err != nil {
		fail(err.Error())
	}
	// Idle: done. The CLI learns of it from the socket's end; exiting now
	// leaves no moment for the watcher above to take it for the CLI's.
	os.Exit(0)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "sandbox-api: "+msg)
	os.Exit(125)
}
