//go:build !amd64

package transfer

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/transfer/server"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// startInProcess serves the session on a goroutine, over a socket pair
// as the program would: where no program is carried, the CLI links the
// server itself, as it links the Containerfile parser there.
func startInProcess(ctx context.Context, stored StoredLayer) (*Session, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("transfer: making its socket: %w", err)
	}
	local, remote := os.NewFile(uintptr(fds[0]), "transfer"), os.NewFile(uintptr(fds[1]), "transfer")
	s := &Session{stored: stored, served: make(chan struct{})}
	go func() {
		server.Serve(remote)
		close(s.served)
	}()
	s.peer = wire.NewPeer(local, s.handle)
	s.peer.Start()
	// No process to kill: ending the connection fails the calls under
	// way, and the server's requests end as their I/O does.
	s.stop = context.AfterFunc(ctx, func() { s.peer.Close() })
	return s, nil
}
