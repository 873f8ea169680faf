package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// startSlirp runs slirp4netns against the sandbox's namespaces. It writes
// a byte on its ready fd once the interface is configured; closing our end
// of its exit fd ends it (so it also ends when this process dies, whatever
// kills it). Ports are added through its API socket.
func startSlirp(o Options) (*Running, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating slirp4netns's ready pipe: %w", err)
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, fmt.Errorf("creating slirp4netns's exit pipe: %w", err)
	}
	sock := filepath.Join(o.Dir, "slirp.sock")
	os.Remove(sock)
	cmd := exec.Command(o.Path,
		"--configure", "--mtu="+strconv.Itoa(MTU), "--ready-fd=3", "--exit-fd=4",
		"--api-socket", sock,
		"--userns-path="+fmt.Sprintf("/proc/%d/ns/user", o.Pid),
		strconv.Itoa(o.Pid), Interface)
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	r, err := start(Slirp4netns, cmd, o.StartOn)
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		return nil, err
	}
	r.extra = []*os.File{exitW}

	// The ready fd gets "1" when the network is configured, and EOF when
	// slirp4netns fails first.
	readyR.SetReadDeadline(time.Now().Add(readyTimeout))
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		select {
		case <-o.Cancel:
			readyR.SetReadDeadline(time.Now()) // ends the Read below
		case <-stopWatch:
		}
	}()
	b := make([]byte, 1)
	if n, err := readyR.Read(b); n != 1 {
		if canceled(o.Cancel) {
			return nil, r.failed(ErrCanceled)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, r.failed(errors.New("slirp4netns did not bring the network up within 20 s"))
		}
		<-r.done
		return nil, r.failed(fmt.Errorf("slirp4netns exited before the network was up (%s)", r.cmd.ProcessState))
	}
	for _, p := range o.Ports {
		if err := slirpAddPort(sock, p); err != nil {
			return nil, r.failed(fmt.Errorf("publishing port %s with slirp4netns: %w", p.HostAddr(), err))
		}
	}
	return r, nil
}

// slirpRequest and slirpReply are slirp4netns's API (one JSON request per
// connection, answered with "return" or "error").
type slirpRequest struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
}

type slirpHostFwd struct {
	Proto     string `json:"proto"`
	HostAddr  string `json:"host_addr"`
	HostPort  int    `json:"host_port"`
	GuestPort int    `json:"guest_port"`
}

type slirpReply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Desc string `json:"desc"`
	} `json:"error"`
}

func slirpAddPort(sock string, p Port) error {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connecting to its API socket: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := slirpRequest{Execute: "add_hostfwd", Arguments: slirpHostFwd{Proto: p.Proto, HostAddr: p.HostIP, HostPort: p.HostPort, GuestPort: p.ContainerPort}}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("sending the request: %w", err)
	}
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	var rep slirpReply
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("reading the reply %q: %w", b, err)
	}
	if rep.Error != nil {
		return errors.New(rep.Error.Desc)
	}
	return nil
}
