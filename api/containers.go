package api

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	ntypes "github.com/moby/moby/api/types/network"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
)

// filters turns the API's filters parameter ({"label": {"a=b": true}} or,
// from old clients, {"label": ["a=b"]}) into ps's KEY=VALUE list.
func filters(r *http.Request) ([]string, error) {
	raw := r.URL.Query().Get("filters")
	if raw == "" {
		return nil, nil
	}
	var out []string
	var byMap map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &byMap); err == nil {
		for k, vs := range byMap {
			for v, on := range vs {
				if on {
					out = append(out, k+"="+v)
				}
			}
		}
		return out, nil
	}
	var byList map[string][]string
	if err := json.Unmarshal([]byte(raw), &byList); err != nil {
		return nil, badRequest(fmt.Errorf("filters %q: %w", raw, err))
	}
	for k, vs := range byList {
		for _, v := range vs {
			out = append(out, k+"="+v)
		}
	}
	return out, nil
}

// supportedPSFilters are the filters ps takes; the API refuses others
// rather than ignore them.
var supportedPSFilters = []string{"status", "name", "id", "ancestor", "label", "pod"}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) error {
	fs, err := filters(r)
	if err != nil {
		return err
	}
	for _, f := range fs {
		k, _, _ := strings.Cut(f, "=")
		ok := false
		for _, sup := range supportedPSFilters {
			ok = ok || k == sup
		}
		if !ok {
			return badRequest(fmt.Errorf("invalid filter %q (served: %s)", k, strings.Join(supportedPSFilters, ", ")))
		}
	}
	list, err := s.B.PS(boolParam(r, "all"), fs)
	if err != nil {
		return badRequest(err)
	}
	out := []ctypes.Summary{}
	for _, l := range list {
		row, c := l.Row, l.Container
		sum := ctypes.Summary{
			ID: row.ID, Names: []string{"/" + row.Name}, Image: row.Image, ImageID: withSHA(c.ImageID),
			Command: strings.Join(row.Command, " "), Created: row.Created.Unix(),
			Labels: labelMap(c.Labels), State: ctypes.ContainerState(row.State.Status), Status: statusText(row),
			Ports: portSummaries(c), Mounts: mountPoints(c),
		}
		sum.HostConfig.NetworkMode = networkMode(c.Network)
		sum.NetworkSettings = &ctypes.NetworkSettingsSummary{Networks: map[string]*ntypes.EndpointSettings{}}
		for _, name := range c.Networks {
			ep := &ntypes.EndpointSettings{Aliases: c.NetworkAliases}
			for _, e := range row.State.Networks {
				if e.Network == name {
					ep.IPAddress, _ = netip.ParseAddr(e.IP)
					ep.Gateway, _ = netip.ParseAddr(e.Gateway)
					ep.IPPrefixLen = e.Prefix
				}
			}
			sum.NetworkSettings.Networks[name] = ep
		}
		out = append(out, sum)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// statusText is the STATUS column as Docker words it.
func statusText(row containertypes.Row) string {
	st := row.State
	switch st.Status {
	case containertypes.Running:
		up := "Up " + humanDuration(time.Since(st.StartedAt))
		if row.Health != "" {
			up += " (" + row.Health + ")"
		}
		return up
	case containertypes.Exited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, humanDuration(time.Since(st.FinishedAt)))
	}
	return "Created"
}

func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s < 3600:
		if m := s / 60; m > 1 {
			return fmt.Sprintf("%d minutes", m)
		}
		return "About a minute"
	default:
		if h := s / 3600; h > 1 {
			return fmt.Sprintf("%d hours", h)
		}
		return "About an hour"
	}
}

func labelMap(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func networkMode(n string) string {
	switch n {
	case "", "host":
		return "host"
	case "slirp", "pasta", "slirp4netns":
		return "bridge"
	}
	return n
}

func portSummaries(c *calls.Container) []ctypes.PortSummary {
	out := []ctypes.PortSummary{}
	for _, p := range c.Ports {
		ip, _ := netip.ParseAddr(p.HostIP)
		out = append(out, ctypes.PortSummary{IP: ip, PrivatePort: uint16(p.ContainerPort), PublicPort: uint16(p.HostPort), Type: p.Proto})
	}
	return out
}

func mountPoints(c *calls.Container) []ctypes.MountPoint {
	out := []ctypes.MountPoint{}
	for _, m := range c.Mounts {
		mp := ctypes.MountPoint{Type: mount.Type(m.Type), Source: m.Source, Destination: m.Target, RW: !m.ReadOnly, Name: m.Volume}
		if m.Volume != "" {
			mp.Type, mp.Driver = mount.TypeVolume, "local"
		}
		out = append(out, mp)
	}
	return out
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	d, err := s.B.Inspect(r.PathValue("id"))
	if err != nil {
		return err
	}
	st := &ctypes.State{
		Status: ctypes.ContainerState(d.State.Status), Running: d.State.Running, Restarting: d.State.Restarting,
		OOMKilled: d.State.OOMKilled, Pid: d.State.Pid, ExitCode: d.State.ExitCode,
		StartedAt: timeOrZero(d.State.StartedAt), FinishedAt: timeOrZero(d.State.FinishedAt),
	}
	if h := d.State.Health; h != nil {
		st.Health = &ctypes.Health{Status: ctypes.HealthStatus(h.Status), FailingStreak: h.FailingStreak}
		for _, l := range h.Log {
			st.Health.Log = append(st.Health.Log, &ctypes.HealthcheckResult{Start: l.Start, End: l.End, ExitCode: l.ExitCode, Output: l.Output})
		}
	}
	c := &d.Container
	out := ctypes.InspectResponse{
		ID: c.ID, Created: c.Created.Format(time.RFC3339Nano), Path: d.Path, Args: d.Args, State: st,
		Image: withSHA(c.ImageID), Name: "/" + c.Name, RestartCount: d.RestartCount, Driver: "overlay", Platform: "linux",
		Config: &ctypes.Config{Hostname: c.Hostname, User: c.User, Tty: c.TTY, OpenStdin: c.Interactive, Env: c.Env,
			Cmd: c.Cmd, Image: c.Image, WorkingDir: c.Workdir, Entrypoint: c.Entrypoint, Labels: labelMap(c.Labels),
			AttachStdout: !c.Detach, AttachStderr: !c.Detach},
		HostConfig: &ctypes.HostConfig{NetworkMode: ctypes.NetworkMode(networkMode(c.Network)), AutoRemove: c.Rm,
			RestartPolicy: ctypes.RestartPolicy{Name: ctypes.RestartPolicyMode(restartName(c.Restart))}, ReadonlyRootfs: c.ReadOnly,
			Privileged: c.Privileged, CapAdd: c.CapAdd, CapDrop: c.CapDrop, PortBindings: ntypes.PortMap{}},
		Mounts:          mountPoints(c),
		NetworkSettings: &ctypes.NetworkSettings{Ports: ntypes.PortMap{}, Networks: map[string]*ntypes.EndpointSettings{}},
	}
	for _, p := range c.Ports {
		port, err := ntypes.ParsePort(fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto))
		if err != nil {
			continue
		}
		ip, _ := netip.ParseAddr(p.HostIP)
		b := ntypes.PortBinding{HostIP: ip, HostPort: strconv.Itoa(p.HostPort)}
		out.HostConfig.PortBindings[port] = append(out.HostConfig.PortBindings[port], b)
		out.NetworkSettings.Ports[port] = append(out.NetworkSettings.Ports[port], b)
	}
	for name, e := range d.Endpoints {
		ep := &ntypes.EndpointSettings{NetworkID: e.NetworkID, Aliases: e.Aliases, DNSNames: e.DNSNames, IPPrefixLen: e.IPPrefixLen}
		ep.IPAddress, _ = netip.ParseAddr(e.IPAddress)
		ep.Gateway, _ = netip.ParseAddr(e.Gateway)
		if mac, err := net.ParseMAC(e.MacAddress); err == nil {
			ep.MacAddress = ntypes.HardwareAddr(mac)
		}
		out.NetworkSettings.Networks[name] = ep
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func timeOrZero(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.Format(time.RFC3339Nano)
}

func restartName(p string) string {
	if p == "" {
		return "no"
	}
	return p
}

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	var req ctypes.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Config == nil {
		return badRequest(errors.New("the request has no container config"))
	}
	cr, err := createRequest(req, r.URL.Query().Get("name"))
	if err != nil {
		return badRequest(err)
	}
	c, err := s.B.Create(cr)
	if errors.Is(err, calls.ErrInvalid) {
		return badRequest(err)
	}
	if err != nil {
		if errors.Is(err, imagetypes.ErrNotFound) {
			return notFound(fmt.Errorf("No such image: %s", req.Image))
		}
		return err
	}
	writeJSON(w, http.StatusCreated, ctypes.CreateResponse{ID: c.ID, Warnings: []string{}})
	return nil
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.B.Find(id)
	if err != nil {
		return err
	}
	if s.B.State(c.ID).Status == containertypes.Running {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if err := s.B.Start(c.ID); err != nil {
		// The client words the exit code from the message (126, 127).
		return badRequest(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	if s.B.State(c.ID).Status != containertypes.Running {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	timeout := time.Duration(-1)
	if t := r.URL.Query().Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return badRequest(fmt.Errorf("t=%q: give whole seconds", t))
		}
		timeout = time.Duration(n) * time.Second
	}
	if err := s.B.Stop(c.ID, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("signal")
	if name == "" {
		name = "KILL"
	}
	if err := s.B.Kill(r.PathValue("id"), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	timeout := time.Duration(-1)
	if t := r.URL.Query().Get("t"); t != "" {
		if n, err := strconv.Atoi(t); err == nil {
			timeout = time.Duration(n) * time.Second
		}
	}
	if err := s.B.Stop(c.ID, timeout); err != nil {
		return err
	}
	if err := s.B.Start(c.ID); err != nil {
		return badRequest(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerWait answers when the condition holds: not-running (the
// default), next-exit, or removed. The status line goes out at once, as
// Docker sends it, so that a client knows its wait is in place before it
// starts the container.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	cond := r.URL.Query().Get("condition")
	if cond == "" {
		cond = "not-running"
	}
	if cond != "not-running" && cond != "next-exit" && cond != "removed" {
		return badRequest(fmt.Errorf("condition=%q: valid values are not-running, next-exit, removed", cond))
	}
	base := s.B.State(c.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	code, werr := s.waitFor(r, c, cond, base)
	resp := ctypes.WaitResponse{StatusCode: int64(code)}
	if werr != nil {
		resp.Error = &ctypes.WaitExitError{Message: werr.Error()}
	}
	json.NewEncoder(w).Encode(resp)
	return nil
}

func (s *Server) waitFor(r *http.Request, c *calls.Container, cond string, base containertypes.State) (int, error) {
	lastCode := -1
	for {
		if _, err := s.B.Find(c.ID); err != nil {
			// Gone: removed (--rm), its code kept by its monitor.
			if code, ok := s.B.RemovedExit(c.ID); ok {
				return code, nil
			}
			if lastCode >= 0 {
				return lastCode, nil
			}
			return 0, nil
		}
		st := s.B.State(c.ID)
		if st.Status == containertypes.Exited && !st.Restarting {
			ended := base.Status != containertypes.Exited || st.FinishedAt.After(base.FinishedAt)
			lastCode = st.ExitCode
			switch {
			case cond == "not-running":
				return st.ExitCode, nil
			case cond == "next-exit" && ended:
				return st.ExitCode, nil
			}
		}
		if st.Status == containertypes.Created && cond == "not-running" {
			return 0, nil
		}
		select {
		case <-r.Context().Done():
			return lastCode, r.Context().Err()
		case <-time.After(30 * time.Millisecond):
		}
	}
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.B.Remove(r.PathValue("id"), boolParam(r, "force"), boolParam(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) error {
	if err := s.B.Rename(r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	removed, err := s.B.Prune()
	if err != nil {
		return err
	}
	resp := ctypes.PruneReport{ContainersDeleted: append([]string{}, removed...)}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// frameWriter writes Docker's multiplexed stream: each write a frame of
// an 8-byte header (the stream: 1 stdout, 2 stderr; then the length)
// and the bytes. A TTY container's stream is raw instead.
type frameWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
	raw    bool
	flush  func()
}

func (f frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.raw {
		var h [8]byte
		h[0] = f.stream
		binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
		if _, err := f.w.Write(h[:]); err != nil {
			return 0, err
		}
	}
	n, err := f.w.Write(p)
	if f.flush != nil {
		f.flush()
	}
	return n, err
}

// streams are a container's stdout and stderr as the API sends them.
func streams(w io.Writer, raw bool, flush func()) (stdout, stderr io.Writer) {
	mu := &sync.Mutex{}
	return frameWriter{mu, w, 1, raw, flush}, frameWriter{mu, w, 2, raw, flush}
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	o := containertypes.LogOptions{Follow: boolParam(r, "follow"), Tail: -1, Timestamps: boolParam(r, "timestamps")}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return badRequest(fmt.Errorf("tail=%q: give a number or all", t))
		}
		o.Tail = n
	}
	if q.Get("since") != "" && q.Get("since") != "0" || q.Get("until") != "" && q.Get("until") != "0" {
		return badRequest(errors.New("logs since and until are not served: sandbox's logs have no index by time"))
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if c.TTY {
		ct = "application/vnd.docker.raw-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if f, ok := w.(http.Flusher); ok {
		flush = f.Flush
		f.Flush()
	}
	out, errw := streams(w, c.TTY, flush)
	if !boolParam(r, "stdout") {
		out = io.Discard
	}
	if !boolParam(r, "stderr") {
		errw = io.Discard
	}
	err = s.B.Logs(c.ID, o, out, errw)
	if errors.Is(err, containertypes.ErrNotFound) {
		return nil // removed since: its status is sent already
	}
	return err
}

// hijacked is a connection taken over from HTTP: reads come through the
// server's buffer first (bytes the client sent right after its request,
// standard input already).
type hijacked struct {
	net.Conn
	r io.Reader
}

func (h hijacked) Read(p []byte) (int, error) { return h.r.Read(p) }

// CloseWrite ends the stream's output, for a client that waits for it.
func (h hijacked) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// hijack takes the connection over for a raw stream, answering 101 when
// the client asked to upgrade (the docker CLI does) or 200.
func hijack(w http.ResponseWriter, r *http.Request, contentType string) (net.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, errors.New("the connection cannot be taken over")
	}
	raw, buf, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	conn := hijacked{Conn: raw, r: buf.Reader}
	if r.Header.Get("Upgrade") != "" {
		fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", contentType)
	} else {
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", contentType)
	}
	return conn, nil
}

// containerAttach streams the container's output from its start (or now)
// until it ends, by following its log. Standard input is not attached: a
// detached sandbox has no way in for it (exec has).
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	if !boolParam(r, "stream") && !boolParam(r, "logs") {
		return badRequest(errors.New("attach needs stream=1 or logs=1"))
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if c.TTY {
		ct = "application/vnd.docker.raw-stream"
	}
	conn, err := hijack(w, r, ct)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.attachBegin(c.ID)
	defer s.attachEnd(c.ID)
	out, errw := streams(conn, c.TTY, nil)
	if !boolParam(r, "stdout") {
		out = io.Discard
	}
	if !boolParam(r, "stderr") {
		errw = io.Discard
	}
	// Attached before the start (docker run): wait for it. A --rm
	// container may be gone before we look: its monitor kept its log.
	gone := func() bool {
		if _, err := s.B.Find(c.ID); err != nil {
			for i := 0; i < 50 && !s.B.RemovedLogs(c.ID, out, errw); i++ {
				time.Sleep(20 * time.Millisecond)
			}
			return true
		}
		return false
	}
	// Attached before its start (docker run), it gets everything from the
	// start; attached to a running one, only what comes next, unless
	// logs=1 asks for the past too (docker attach).
	tail := 0
	if boolParam(r, "logs") {
		tail = -1
	}
	for s.B.State(c.ID).Status == containertypes.Created {
		tail = -1
		if gone() {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	if boolParam(r, "stdin") && c.Interactive {
		// The client's input, to the monitor that holds the payload's.
		go func() {
			in, err := s.B.AttachStdin(c.ID)
			if err != nil {
				return
			}
			defer in.Close()
			io.Copy(in, conn)
			if cw, ok := in.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	o := containertypes.LogOptions{Follow: boolParam(r, "stream"), Tail: tail}
	if err := s.B.Logs(c.ID, o, out, errw); err != nil && gone() {
		return nil
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return nil
}

// containerResize sizes an interactive container's terminal (through its
// monitor); for others it is accepted and does nothing, as Docker does.
func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	h, err1 := strconv.Atoi(r.URL.Query().Get("h"))
	wd, err2 := strconv.Atoi(r.URL.Query().Get("w"))
	if err1 == nil && err2 == nil {
		s.B.ResizeTTY(c.ID, h, wd)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
