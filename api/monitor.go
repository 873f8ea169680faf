package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	itypes "github.com/moby/moby/api/types/image"
	vtypes "github.com/moby/moby/api/types/volume"

	"github.com/sandbox-dev/sandbox/container/containertypes"
)

// containerStats is GET /containers/ID/stats: one sample (stream=false),
// or one a second until the client goes. CPU use is the cgroup's against
// the machine's (/proc/stat), as Docker computes it; a container without a
// cgroup of its own (no cgroup v2 delegation) reads as zeros.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	stream := r.URL.Query().Get("stream") == "" || boolParam(r, "stream")
	sample := func() (ctypes.StatsResponse, bool) {
		st := s.B.State(c.ID)
		out := ctypes.StatsResponse{ID: c.ID, Name: "/" + c.Name, OSType: "linux", Read: time.Now()}
		out.CPUStats.SystemUsage = systemCPUNanos()
		out.CPUStats.OnlineCPUs = uint32(goruntime.NumCPU())
		if st.Status != containertypes.Running || st.Cgroup == "" {
			return out, st.Status == containertypes.Running
		}
		u, err := s.B.Usage(st.Cgroup)
		if err != nil {
			return out, true
		}
		out.CPUStats.CPUUsage.TotalUsage = u.CPUUsec * 1000
		out.CPUStats.ThrottlingData = ctypes.ThrottlingData{Periods: u.NrPeriods, ThrottledPeriods: u.NrThrottled}
		out.MemoryStats = ctypes.MemoryStats{Usage: u.Memory, Limit: u.MemoryLimit, Stats: map[string]uint64{}}
		if out.MemoryStats.Limit == 0 {
			out.MemoryStats.Limit = uint64(memTotal())
		}
		out.PidsStats = ctypes.PidsStats{Current: u.Pids, Limit: u.PidsLimit}
		out.BlkioStats.IoServiceBytesRecursive = []ctypes.BlkioStatEntry{{Op: "read", Value: u.IORead}, {Op: "write", Value: u.IOWrite}}
		return out, true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	prev, _ := sample()
	if !stream {
		time.Sleep(100 * time.Millisecond)
	}
	for {
		cur, running := sample()
		cur.PreCPUStats, cur.PreRead = prev.CPUStats, prev.Read
		if err := json.NewEncoder(w).Encode(cur); err != nil || !stream || !running {
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
		prev = cur
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// systemCPUNanos is the machine's CPU time, all CPUs, from /proc/stat.
func systemCPUNanos() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && fields[0] == "cpu" {
			var ticks uint64
			for _, v := range fields[1:] {
				n, _ := strconv.ParseUint(v, 10, 64)
				ticks += n
			}
			return ticks * uint64(time.Second) / 100 // USER_HZ
		}
	}
	return 0
}

// containerTop lists the container's processes: its init's descendants.
func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) error {
	c, err := s.B.Find(r.PathValue("id"))
	if err != nil {
		return err
	}
	st := s.B.State(c.ID)
	if st.Status != containertypes.Running {
		return conflict(fmt.Errorf("container %s is not running", c.Name))
	}
	if a := r.URL.Query().Get("ps_args"); a != "" && a != "-ef" {
		return badRequest(fmt.Errorf("ps_args %q: only the default columns are served", a))
	}
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := procPPID(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := ctypes.TopResponse{Titles: []string{"UID", "PID", "PPID", "CMD"}, Processes: [][]string{}}
	var walk func(pid int)
	walk = func(pid int) {
		for _, child := range children[pid] {
			ppid, _ := procPPID(child)
			out.Processes = append(out.Processes, []string{procUID(child), strconv.Itoa(child), strconv.Itoa(ppid), procCmdline(child)})
			walk(child)
		}
	}
	walk(st.Pid)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func procPPID(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

func procUID(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return f[0]
			}
		}
	}
	return "?"
}

func procCmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// events streams container events (create, start, die, destroy) as they
// happen, by watching the store: sandbox keeps no log of past events, so
// since and until only bound the stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	fs, err := filters(r)
	if err != nil {
		return err
	}
	var until time.Time
	if u := r.URL.Query().Get("until"); u != "" {
		sec, err := strconv.ParseFloat(u, 64)
		if err != nil {
			return badRequest(fmt.Errorf("until=%q: give seconds since the epoch", u))
		}
		until = time.Unix(0, int64(sec*1e9))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	type seen struct {
		status, name, image string
		labels              map[string]string
		finished            time.Time
		code                int
	}
	snapshot := func() map[string]seen {
		out := map[string]seen{}
		list, _ := s.B.PS(true, nil)
		for _, l := range list {
			row, c := l.Row, l.Container
			out[row.ID] = seen{row.State.Status, row.Name, row.Image, labelMap(c.Labels), row.State.FinishedAt, row.State.ExitCode}
		}
		return out
	}
	send := func(id string, c seen, action string, attrs map[string]string) bool {
		a := map[string]string{"name": c.name, "image": c.image}
		for k, v := range c.labels {
			a[k] = v
		}
		for k, v := range attrs {
			a[k] = v
		}
		now := time.Now()
		m := events.Message{Type: events.ContainerEventType, Action: events.Action(action),
			Actor: events.Actor{ID: id, Attributes: a}, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
		if !eventMatches(m, fs) {
			return true
		}
		// API 1.41's clients (docker-compose 1.29) read the legacy fields
		// too, which the newer types dropped.
		legacy := struct {
			Status string `json:"status"`
			ID     string `json:"id"`
			From   string `json:"from"`
			events.Message
		}{action, id, c.image, m}
		if err := json.NewEncoder(w).Encode(legacy); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	prev := snapshot()
	// held are the containers whose die waits for their attach streams
	// (attachDrained): since when, and the exit it is for. Not past
	// maxHold, for a client that stopped reading its stream; and no
	// longer once the container has changed again (a restart): the held
	// die goes out first.
	const maxHold = 5 * time.Second
	type hold struct {
		since  time.Time
		exited seen
	}
	held := map[string]hold{}
	dieAttrs := func(c seen) map[string]string { return map[string]string{"exitCode": strconv.Itoa(c.code)} }
	// release says whether id's die may go now (and forgets the hold).
	release := func(id string, exited seen) bool {
		h, ok := held[id]
		if !ok {
			h = hold{since: time.Now(), exited: exited}
			held[id] = h
		}
		if s.attachDrained(id, time.Now()) || time.Since(h.since) > maxHold {
			delete(held, id)
			return true
		}
		return false
	}
	for {
		if !until.IsZero() && time.Now().After(until) {
			return nil
		}
		tick := 200 * time.Millisecond
		if len(held) > 0 {
			tick = 25 * time.Millisecond
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(tick):
		}
		cur := snapshot()
		for id, c := range cur {
			p, existed := prev[id]
			if h, ok := held[id]; ok {
				sameExit := c.status == containertypes.Exited && c.finished.Equal(h.exited.finished)
				if sameExit && !release(id, h.exited) {
					cur[id] = p // seen again at the next tick
					continue
				}
				// Its die goes now; what changed since the exit (a
				// restart, another exit) is compared with the exit.
				delete(held, id)
				if !send(id, h.exited, "die", dieAttrs(h.exited)) {
					return nil
				}
				p, existed = h.exited, true
			}
			ok := true
			if !existed {
				ok = send(id, c, "create", nil)
			}
			if c.status == containertypes.Running && (!existed || p.status != containertypes.Running) {
				ok = ok && send(id, c, "start", nil)
			}
			if c.status == containertypes.Exited && (existed && p.status == containertypes.Running || !c.finished.Equal(p.finished) && existed) {
				if !release(id, c) {
					cur[id] = p
					continue
				}
				ok = ok && send(id, c, "die", dieAttrs(c))
			}
			if !ok {
				return nil
			}
		}
		for id, p := range prev {
			if _, ok := cur[id]; ok {
				continue
			}
			// Removed: a die still held, or for a container removed while
			// running, goes before its destroy.
			if h, isHeld := held[id]; isHeld || p.status == containertypes.Running {
				if !isHeld {
					h.exited = p
				}
				if !release(id, h.exited) {
					cur[id] = p
					continue
				}
				if !send(id, h.exited, "die", dieAttrs(h.exited)) {
					return nil
				}
			}
			if !send(id, p, "destroy", nil) {
				return nil
			}
		}
		prev = cur
	}
}

// eventMatches applies type=, container=, event= and label= filters.
func eventMatches(m events.Message, fs []string) bool {
	byKey := map[string][]string{}
	for _, f := range fs {
		k, v, _ := strings.Cut(f, "=")
		byKey[k] = append(byKey[k], v)
	}
	any := func(key string, ok func(string) bool) bool {
		vs, present := byKey[key]
		if !present {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return any("type", func(v string) bool { return v == string(m.Type) }) &&
		any("event", func(v string) bool { return v == string(m.Action) }) &&
		any("container", func(v string) bool { return v == m.Actor.Attributes["name"] || strings.HasPrefix(m.Actor.ID, v) }) &&
		any("label", func(v string) bool {
			k, val, hasV := strings.Cut(v, "=")
			have, ok := m.Actor.Attributes[k]
			return ok && (!hasV || have == val)
		})
}

// systemDF is GET /system/df in the shape API 1.41 clients read.
func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.B.Images()
	if err != nil {
		return err
	}
	usage, err := s.B.DiskUsage()
	if err != nil {
		return err
	}
	images := []itypes.Summary{}
	seen := map[string]bool{}
	for _, im := range imgs {
		if seen[im.ID] {
			continue
		}
		seen[im.ID] = true
		images = append(images, itypes.Summary{ID: withSHA(im.ID), Created: im.Created.Unix(), Size: im.Size, RepoTags: []string{}, RepoDigests: []string{}, Labels: map[string]string{}})
	}
	list, err := s.B.PS(true, nil)
	if err != nil {
		return err
	}
	ctrs := []ctypes.Summary{}
	for _, l := range list {
		row := l.Row
		ctrs = append(ctrs, ctypes.Summary{ID: row.ID, Names: []string{"/" + row.Name}, Image: row.Image, Created: row.Created.Unix(),
			State: ctypes.ContainerState(row.State.Status), Status: statusText(row)})
	}
	vols, _ := s.B.Volumes()
	volumes := []vtypes.Volume{}
	users, _ := s.B.VolumeUsers()
	for _, v := range vols {
		vo := volumeOut(v)
		vo.UsageData = &vtypes.UsageData{Size: -1, RefCount: int64(len(users[v.Name]))}
		volumes = append(volumes, vo)
	}
	writeJSON(w, http.StatusOK, map[string]any{"LayersSize": usage.Size, "Images": images, "Containers": ctrs, "Volumes": volumes, "BuildCache": []any{}})
	return nil
}
