package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// Server answers a remote server's calls (calls.Remote) with b: the
// store's side of the socket to the API server's program.
type Server struct {
	B *Backend

	mu    sync.Mutex
	next  int
	execs map[int]calls.ExecSession
}

// Handle answers one call (a wire.Handler). It owns files: it closes
// them once the call is done.
func (s *Server) Handle(m *wire.Msg, files []*os.File) (*wire.Msg, error) {
	defer func() { wire.CloseFiles(files) }() // an exec keeps them: nil then
	file := func(i int) *os.File {
		if i < len(files) {
			return files[i]
		}
		return nil
	}
	b := s.B
	switch m.Op {
	case "PS":
		var all bool
		var filters []string
		if err := calls.Args(m, &all, &filters); err != nil {
			return nil, err
		}
		rows, err := b.PS(all, filters)
		return calls.Results(err, rows)
	case "Find", "Inspect", "State", "Start", "Prune", "RemovedExit", "RemoveVolume", "InspectVolume", "RemoveNetwork",
		"InspectNetwork", "InspectImage", "History", "Push", "Usage", "StoreRoot", "Volumes", "VolumeUsers", "PruneVolumes",
		"Networks", "PruneNetworks", "Images", "ImageUsers", "DiskUsage", "ExecWait", "ExecClose":
		return s.oneArg(m)
	case "Create":
		var r calls.CreateRequest
		if err := calls.Args(m, &r); err != nil {
			return nil, err
		}
		c, err := b.Create(r)
		return calls.Results(err, c)
	case "Stop":
		var id string
		var timeout time.Duration
		if err := calls.Args(m, &id, &timeout); err != nil {
			return nil, err
		}
		return calls.Results(b.Stop(id, timeout))
	case "Kill", "Rename", "Tag", "DisconnectNetwork":
		var x, y string
		if err := calls.Args(m, &x, &y); err != nil {
			return nil, err
		}
		switch m.Op {
		case "Kill":
			return calls.Results(b.Kill(x, y))
		case "Rename":
			return calls.Results(b.Rename(x, y))
		case "Tag":
			return calls.Results(b.Tag(x, y))
		}
		return calls.Results(b.DisconnectNetwork(x, y))
	case "Remove":
		var ref string
		var force, volumes bool
		if err := calls.Args(m, &ref, &force, &volumes); err != nil {
			return nil, err
		}
		return calls.Results(b.Remove(ref, force, volumes))
	case "Logs":
		var id string
		var o containertypes.LogOptions
		if err := calls.Args(m, &id, &o); err != nil {
			return nil, err
		}
		if len(files) != 2 {
			return nil, errors.New("Logs: want two descriptors")
		}
		return calls.Results(b.Logs(id, o, files[0], files[1]))
	case "RemovedLogs":
		var id string
		if err := calls.Args(m, &id); err != nil {
			return nil, err
		}
		if len(files) != 2 {
			return nil, errors.New("RemovedLogs: want two descriptors")
		}
		return calls.Results(nil, b.RemovedLogs(id, files[0], files[1]))
	case "AttachStdin":
		var id string
		if err := calls.Args(m, &id); err != nil {
			return nil, err
		}
		w, err := b.AttachStdin(id)
		if err != nil {
			return calls.Results(err)
		}
		defer w.Close()
		uc, ok := w.(*net.UnixConn)
		if !ok {
			return nil, fmt.Errorf("AttachStdin: a %T cannot be passed", w)
		}
		f, err := uc.File()
		if err != nil {
			return nil, err
		}
		r, err := calls.Results(nil)
		r.Files = []*os.File{f}
		return r, err
	case "ResizeTTY":
		var id string
		var rows, cols int
		if err := calls.Args(m, &id, &rows, &cols); err != nil {
			return nil, err
		}
		b.ResizeTTY(id, rows, cols)
		return calls.Results(nil)
	case "Exec":
		var id string
		var req calls.ExecRequest
		if err := calls.Args(m, &id, &req); err != nil {
			return nil, err
		}
		sess, err := b.Exec(id, req, file(0), file(1), file(2))
		if err != nil {
			return calls.Results(err, 0)
		}
		var reply []*os.File
		if c := sess.Console(); c != nil {
			fd, err := unix.FcntlInt(c.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				sess.Close()
				return nil, err
			}
			reply = append(reply, os.NewFile(uintptr(fd), "console"))
		}
		s.mu.Lock()
		if s.execs == nil {
			s.execs = map[int]calls.ExecSession{}
		}
		s.next++
		h := s.next
		// The session relays the descriptors until it is closed.
		s.execs[h] = keptFiles{sess, files}
		files = nil
		s.mu.Unlock()
		r, err := calls.Results(nil, h)
		if r != nil {
			r.Files = reply
		}
		return r, err
	case "ArchiveStat":
		var id, path string
		if err := calls.Args(m, &id, &path); err != nil {
			return nil, err
		}
		stat, err := b.ArchiveStat(id, path)
		return calls.Results(err, stat)
	case "ArchiveGet":
		var id, path string
		if err := calls.Args(m, &id, &path); err != nil {
			return nil, err
		}
		if len(files) != 1 {
			return nil, errors.New("ArchiveGet: want a descriptor")
		}
		return calls.Results(b.ArchiveGet(id, path, files[0]))
	case "ArchivePut":
		var id, path string
		var keep bool
		if err := calls.Args(m, &id, &path, &keep); err != nil {
			return nil, err
		}
		if len(files) != 1 {
			return nil, errors.New("ArchivePut: want a descriptor")
		}
		return calls.Results(b.ArchivePut(id, path, keep, files[0]))
	case "CreateVolume":
		var name string
		var labels map[string]string
		if err := calls.Args(m, &name, &labels); err != nil {
			return nil, err
		}
		v, err := b.CreateVolume(name, labels)
		return calls.Results(err, v)
	case "CreateNetwork":
		var name string
		var o containertypes.NetworkOptions
		if err := calls.Args(m, &name, &o); err != nil {
			return nil, err
		}
		n, err := b.CreateNetwork(name, o)
		return calls.Results(err, n)
	case "ConnectNetwork":
		var name, ref string
		var aliases []string
		if err := calls.Args(m, &name, &ref, &aliases); err != nil {
			return nil, err
		}
		return calls.Results(b.ConnectNetwork(name, ref, aliases))
	case "RemoveImage", "PruneImages":
		var res imagetypes.RemoveResult
		var err error
		if m.Op == "RemoveImage" {
			var ref string
			var force bool
			if err := calls.Args(m, &ref, &force); err != nil {
				return nil, err
			}
			res, err = b.RemoveImage(ref, force)
		} else {
			var all bool
			if err := calls.Args(m, &all); err != nil {
				return nil, err
			}
			res, err = b.PruneImages(all)
		}
		return calls.Results(err, res)
	case "Pull":
		var ref, platform string
		if err := calls.Args(m, &ref, &platform); err != nil {
			return nil, err
		}
		events := file(0)
		var mu sync.Mutex
		id, err := b.Pull(context.Background(), ref, platform, func(e imagetypes.ProgressEvent) {
			if events == nil {
				return
			}
			line, _ := json.Marshal(e)
			mu.Lock()
			events.Write(append(line, '\n'))
			mu.Unlock()
		})
		return calls.Results(err, id)
	case "Save":
		var refs []string
		if err := calls.Args(m, &refs); err != nil {
			return nil, err
		}
		if len(files) != 1 {
			return nil, errors.New("Save: want a descriptor")
		}
		return calls.Results(b.Save(refs, files[0]))
	case "Load":
		if len(files) != 1 {
			return nil, errors.New("Load: want a descriptor")
		}
		imgs, err := b.Load(files[0])
		return calls.Results(err, imgs)
	case "Build":
		var o calls.BuildOptions
		if err := calls.Args(m, &o); err != nil {
			return nil, err
		}
		if len(files) != 2 {
			return nil, errors.New("Build: want two descriptors")
		}
		id, err := b.Build(o, files[0], files[1])
		return calls.Results(err, id)
	}
	return nil, fmt.Errorf("unknown call %q", m.Op)
}

// oneArg answers the calls that take one argument, or none.
func (s *Server) oneArg(m *wire.Msg) (*wire.Msg, error) {
	b := s.B
	var arg []any
	var str string
	var n int
	switch m.Op {
	case "Prune", "StoreRoot", "Volumes", "VolumeUsers", "PruneVolumes", "Networks", "PruneNetworks", "Images",
		"ImageUsers", "DiskUsage":
	case "ExecWait", "ExecClose":
		arg = []any{&n}
	default:
		arg = []any{&str}
	}
	if err := calls.Args(m, arg...); err != nil {
		return nil, err
	}
	switch m.Op {
	case "Find":
		c, err := b.Find(str)
		return calls.Results(err, c)
	case "Inspect":
		d, err := b.Inspect(str)
		return calls.Results(err, d)
	case "State":
		return calls.Results(nil, b.State(str))
	case "Start":
		return calls.Results(b.Start(str))
	case "Prune":
		ids, err := b.Prune()
		return calls.Results(err, ids)
	case "RemovedExit":
		code, ok := b.RemovedExit(str)
		return calls.Results(nil, code, ok)
	case "RemoveVolume":
		return calls.Results(b.RemoveVolume(str))
	case "InspectVolume":
		v, err := b.InspectVolume(str)
		return calls.Results(err, v)
	case "RemoveNetwork":
		return calls.Results(b.RemoveNetwork(str))
	case "InspectNetwork":
		n, err := b.InspectNetwork(str)
		return calls.Results(err, n)
	case "InspectImage":
		d, err := b.InspectImage(str)
		return calls.Results(err, d)
	case "History":
		rows, err := b.History(str)
		return calls.Results(err, rows)
	case "Push":
		digest, err := b.Push(context.Background(), str)
		return calls.Results(err, digest)
	case "Usage":
		u, err := b.Usage(str)
		return calls.Results(err, u)
	case "StoreRoot":
		return calls.Results(nil, b.StoreRoot())
	case "Volumes":
		vs, err := b.Volumes()
		return calls.Results(err, vs)
	case "VolumeUsers":
		users, err := b.VolumeUsers()
		return calls.Results(err, users)
	case "PruneVolumes":
		names, err := b.PruneVolumes()
		return calls.Results(err, names)
	case "Networks":
		ns, err := b.Networks()
		return calls.Results(err, ns)
	case "PruneNetworks":
		names, err := b.PruneNetworks()
		return calls.Results(err, names)
	case "Images":
		rows, err := b.Images()
		return calls.Results(err, rows)
	case "ImageUsers":
		users, err := b.ImageUsers()
		return calls.Results(err, users)
	case "DiskUsage":
		u, err := b.DiskUsage()
		return calls.Results(err, u)
	case "ExecWait", "ExecClose":
		s.mu.Lock()
		sess := s.execs[n]
		if m.Op == "ExecClose" {
			delete(s.execs, n)
		}
		s.mu.Unlock()
		if sess == nil {
			return nil, fmt.Errorf("no exec session %d", n)
		}
		if m.Op == "ExecClose" {
			sess.Close()
			return calls.Results(nil)
		}
		code, err := sess.Wait()
		return calls.Results(err, code)
	}
	return nil, fmt.Errorf("unknown call %q", m.Op)
}

// keptFiles is an exec session and the descriptors it relays, closed
// with it.
type keptFiles struct {
	calls.ExecSession
	files []*os.File
}

func (k keptFiles) Close() {
	k.ExecSession.Close()
	wire.CloseFiles(k.files)
}
