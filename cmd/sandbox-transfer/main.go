// Command sandbox-transfer is the part of sandbox that speaks to
// registries and reads and writes image archives: it links
// go-containerregistry's registry client, reference names and archive
// formats and the zstd decoder, which cost every start of a program that
// links them (their package initialisation and code pages, about half a
// millisecond), so the CLI carries this program (transfer/transferbin) and
// runs it only to pull, push, log in, save, load, download a build's URL
// or decode zstd. It is not meant to be run by hand.
//
// The CLI starts it with a unix stream socket as descriptor 4 and asks
// its questions there (package transfer/wire); the program ends when the
// CLI closes the socket. It reads and writes only what it is asked to
// and stores nothing: layers flow to the CLI, which checks and unpacks
// them, and stored layers flow from the CLI to be pushed or saved.
// Package transfer/server answers; this program only sets it up.
package main

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/transfer/server"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// socketFD is the descriptor the CLI passes the socket as (3 is the
// program's own executable, which it was started through).
const socketFD = wire.SocketFD

// exeFD is the program's own executable, which the CLI started it
// through.
const exeFD = 3

// progName is the process's name, NUL-terminated (at most 15 bytes).
var progName = []byte("sandbox-transfe\x00")

func main() {
	// Executed through /proc/self/fd/3, the kernel named this process
	// "3": ps and the CLI's memory figures should say what it is.
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&progName[0])), 0, 0, 0)
	// Nothing this program starts (a credential helper) may inherit the
	// socket, which can ask the CLI for any stored layer and would keep
	// the CLI from seeing this program's end, nor the program itself,
	// nor anything else. (Kernels before 5.11 lack the flag; the CLI
	// has already marked what it inherited, and 4 is marked below.)
	unix.CloseRange(exeFD+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	unix.Close(exeFD)
	if _, err := unix.FcntlInt(socketFD, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox-transfer: no socket on descriptor 4 (the CLI starts this program; it is not meant to be run by hand)")
		os.Exit(125)
	}
	server.Serve(os.NewFile(socketFD, "socket"))
}
