//go:build !amd64

package service

import (
	"fmt"
	"net"
	"os"

	"github.com/sandbox-dev/sandbox/api"
)

// serveInProcess serves the API on a goroutine of this process, where no
// program is carried: the same server, calling the backend directly.
func serveInProcess(l *os.File, o Options) error {
	nl, err := net.FileListener(l)
	if err != nil {
		return fmt.Errorf("the listening socket: %w", err)
	}
	srv := &api.Server{B: o.Backend, Idle: o.Idle, SandboxVersion: o.Version, Warn: o.Backend.Warn}
	return srv.Serve(nl)
}
