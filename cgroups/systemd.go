package cgroups

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// systemdScope asks the systemd user manager for a transient scope with
// this process in it and the cgroup delegated to the user, then moves this
// process into its "supervisor" leaf (a cgroup with processes cannot give
// its children controllers), and returns the scope's cgroup. When this
// process exits and the container's cgroup is gone, systemd removes the
// scope.
//
// Delegate=yes matters beyond the delegation: a scope without it gets the
// manager's OOMPolicy=stop, and the first OOM kill in the container would
// stop the whole scope, this process with it. TasksMax is lifted: the
// manager's default caps the scope's whole tree.
func systemdScope(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := userManager(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	unit := fmt.Sprintf("%s-%d.scope", name, os.Getpid())
	props := []sddbus.Property{
		sddbus.PropDescription("sandbox container " + name),
		sddbus.PropPids(uint32(os.Getpid())),
		{Name: "Delegate", Value: godbus.MakeVariant(true)},
		{Name: "CollectMode", Value: godbus.MakeVariant("inactive-or-failed")},
		{Name: "TasksMax", Value: godbus.MakeVariant(uint64(math.MaxUint64))},
	}
	done := make(chan string, 1) // buffered: go-systemd sends holding a lock
	if _, err := conn.StartTransientUnitContext(ctx, unit, "fail", props, done); err != nil {
		return "", fmt.Errorf("asking the systemd user manager for scope %s: %w", unit, err)
	}
	select {
	case res := <-done:
		if res != "done" {
			return "", fmt.Errorf("the systemd user manager could not start scope %s: job %s", unit, res)
		}
	case <-ctx.Done():
		return "", fmt.Errorf("the systemd user manager did not start scope %s in time", unit)
	}
	scope, err := OwnCgroup()
	if err != nil {
		return "", err
	}
	if filepath.Base(scope) != unit {
		return "", fmt.Errorf("scope %s started, but this process is in %s", unit, scope)
	}
	sup := filepath.Join(Mount, scope, "supervisor")
	if err := os.Mkdir(sup, 0o755); err != nil {
		return "", fmt.Errorf("making %s: %w", sup, err)
	}
	// "0" moves the writing process, every thread of it.
	if err := os.WriteFile(filepath.Join(sup, "cgroup.procs"), []byte("0"), 0); err != nil {
		return "", fmt.Errorf("moving sandbox into %s: %w", sup, err)
	}
	return scope, nil
}

// userManager connects to the systemd user manager: through the user's
// D-Bus when there is one, else straight to the manager's private socket
// (which needs no bus at all, and which a stale DBUS_SESSION_BUS_ADDRESS
// does not break).
func userManager(ctx context.Context) (*sddbus.Conn, error) {
	conn, busErr := sddbus.NewUserConnectionContext(ctx)
	if busErr == nil {
		return conn, nil
	}
	sock := userManagerSocket()
	if sock == "" {
		return nil, fmt.Errorf("no systemd user manager to ask for a cgroup: the user bus failed (%v) and %s does not exist", busErr, filepath.Join(runtimeDir(), "systemd", "private"))
	}
	conn, err := sddbus.NewConnection(func() (*godbus.Conn, error) {
		c, err := godbus.Dial("unix:path="+sock, godbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := c.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil // no Hello: systemd itself is the peer
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to the systemd user manager (user bus: %v; %s: %w)", busErr, sock, err)
	}
	return conn, nil
}
