package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// Server answers a remote server's calls (calls.Remote) with B: the
// store's side of the socket to the API server's program.
type Server struct {
	B *Backend

	once     sync.Once
	handlers map[string]handler

	mu    sync.Mutex
	next  int
	execs map[int]keptFiles
}

// handler answers one call; files are the descriptors it came with.
type handler func(m *wire.Msg, files []*os.File) (*wire.Msg, error)

// Handle answers one call (a wire.Handler). It owns files: it closes
// them once the call is done (a handler that keeps one keeps a copy).
func (s *Server) Handle(m *wire.Msg, files []*os.File) (r *wire.Msg, err error) {
	s.once.Do(s.init)
	defer wire.CloseFiles(files)
	h := s.handlers[m.Op]
	if h == nil {
		return nil, fmt.Errorf("unknown call %q", m.Op)
	}
	// A bug in the library fails its call, as it failed its request when
	// the server ran in this process, not the whole service.
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%s: internal error: %v\n%s", m.Op, p, debug.Stack())
		}
	}()
	return h(m, files)
}

// The adapters of Backend's methods by their shapes: their arguments
// decoded from the request, their results encoded in the answer.

func none[R any](f func() (R, error)) handler {
	return func(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
		if err := calls.Args(m); err != nil {
			return nil, err
		}
		r, err := f()
		return calls.Results(err, r)
	}
}

func one[A, R any](f func(A) (R, error)) handler {
	return func(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
		var a A
		if err := calls.Args(m, &a); err != nil {
			return nil, err
		}
		r, err := f(a)
		return calls.Results(err, r)
	}
}

func two[A, B, R any](f func(A, B) (R, error)) handler {
	return func(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
		var a A
		var b B
		if err := calls.Args(m, &a, &b); err != nil {
			return nil, err
		}
		r, err := f(a, b)
		return calls.Results(err, r)
	}
}

func oneErr[A any](f func(A) error) handler {
	return one(func(a A) (struct{}, error) { return struct{}{}, f(a) })
}

func twoErr[A, B any](f func(A, B) error) handler {
	return two(func(a A, b B) (struct{}, error) { return struct{}{}, f(a, b) })
}

func threeErr[A, B, C any](f func(A, B, C) error) handler {
	return func(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
		var a A
		var b B
		var c C
		if err := calls.Args(m, &a, &b, &c); err != nil {
			return nil, err
		}
		return calls.Results(f(a, b, c))
	}
}

// withFiles is a call that needs n descriptors (streams).
func withFiles(n int, h handler) handler {
	return func(m *wire.Msg, files []*os.File) (*wire.Msg, error) {
		if len(files) != n {
			return nil, fmt.Errorf("%s: %d descriptors, want %d", m.Op, len(files), n)
		}
		return h(m, files)
	}
}

func (s *Server) init() {
	b := s.B
	s.handlers = map[string]handler{
		"PS":          two(b.PS),
		"Find":        one(b.Find),
		"Inspect":     one(b.Inspect),
		"State":       one(func(id string) (containertypes.State, error) { return b.State(id), nil }),
		"Create":      one(b.Create),
		"Start":       oneErr(b.Start),
		"Stop":        twoErr(b.Stop),
		"Kill":        twoErr(b.Kill),
		"RemovedExit": s.removedExit,
		"Remove":      threeErr(b.Remove),
		"Rename":      twoErr(b.Rename),
		"Prune":       none(b.Prune),
		"Logs": withFiles(1, func(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
			var id string
			var o containertypes.LogOptions
			if err := calls.Args(m, &id, &o); err != nil {
				return nil, err
			}
			out, errw := calls.OutputFrames(f[0])
			return calls.Results(b.Logs(id, o, out, errw))
		}),
		"RemovedLogs": withFiles(1, func(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
			var id string
			if err := calls.Args(m, &id); err != nil {
				return nil, err
			}
			out, errw := calls.OutputFrames(f[0])
			return calls.Results(nil, b.RemovedLogs(id, out, errw))
		}),
		"AttachStdin": s.attachStdin,
		"ResizeTTY": func(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
			var id string
			var rows, cols int
			if err := calls.Args(m, &id, &rows, &cols); err != nil {
				return nil, err
			}
			b.ResizeTTY(id, rows, cols)
			return calls.Results(nil)
		},
		"Exec":        s.exec,
		"ExecWait":    s.execWait,
		"ExecClose":   s.execClose,
		"ArchiveStat": two(b.ArchiveStat),
		"ArchiveGet": withFiles(1, func(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
			var id, path string
			if err := calls.Args(m, &id, &path); err != nil {
				return nil, err
			}
			return calls.Results(b.ArchiveGet(id, path, f[0]))
		}),
		"ArchivePut": withFiles(1, func(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
			var id, path string
			var keep bool
			if err := calls.Args(m, &id, &path, &keep); err != nil {
				return nil, err
			}
			return calls.Results(b.ArchivePut(id, path, keep, calls.FramedReader(f[0])))
		}),
		"Usage":             one(b.Usage),
		"Volumes":           none(b.Volumes),
		"VolumeUsers":       none(b.VolumeUsers),
		"CreateVolume":      two(b.CreateVolume),
		"InspectVolume":     one(b.InspectVolume),
		"RemoveVolume":      oneErr(b.RemoveVolume),
		"PruneVolumes":      none(b.PruneVolumes),
		"Networks":          none(b.Networks),
		"InspectNetwork":    one(b.InspectNetwork),
		"CreateNetwork":     two(b.CreateNetwork),
		"RemoveNetwork":     oneErr(b.RemoveNetwork),
		"PruneNetworks":     none(b.PruneNetworks),
		"ConnectNetwork":    threeErr(b.ConnectNetwork),
		"DisconnectNetwork": twoErr(b.DisconnectNetwork),
		"Images":            none(b.Images),
		"ImageUsers":        none(b.ImageUsers),
		"InspectImage":      one(b.InspectImage),
		"History":           one(b.History),
		"Tag":               twoErr(b.Tag),
		"RemoveImage":       two(b.RemoveImage),
		"PruneImages":       one(b.PruneImages),
		"Pull":              withFiles(1, s.pull),
		"Push":              one(func(ref string) (string, error) { return b.Push(context.Background(), ref) }),
		"Save": withFiles(1, func(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
			var refs []string
			if err := calls.Args(m, &refs); err != nil {
				return nil, err
			}
			return calls.Results(b.Save(refs, f[0]))
		}),
		"Load": withFiles(1, func(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
			if err := calls.Args(m); err != nil {
				return nil, err
			}
			imgs, err := b.Load(calls.FramedReader(f[0]))
			return calls.Results(err, imgs)
		}),
		"DiskUsage": none(b.DiskUsage),
		"Build": withFiles(2, func(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
			var o calls.BuildOptions
			if err := calls.Args(m, &o); err != nil {
				return nil, err
			}
			id, err := b.Build(o, calls.FramedReader(f[0]), f[1])
			return calls.Results(err, id)
		}),
		"StoreRoot": none(func() (string, error) { return b.StoreRoot(), nil }),
	}
}

func (s *Server) removedExit(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
	var id string
	if err := calls.Args(m, &id); err != nil {
		return nil, err
	}
	code, ok := s.B.RemovedExit(id)
	return calls.Results(nil, code, ok)
}

// attachStdin answers with the socket to the container's monitor.
func (s *Server) attachStdin(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
	var id string
	if err := calls.Args(m, &id); err != nil {
		return nil, err
	}
	w, err := s.B.AttachStdin(id)
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
}

// pull sends each progress event as a JSON line on its descriptor.
func (s *Server) pull(m *wire.Msg, f []*os.File) (*wire.Msg, error) {
	var ref, platform string
	if err := calls.Args(m, &ref, &platform); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	id, err := s.B.Pull(context.Background(), ref, platform, func(e imagetypes.ProgressEvent) {
		line, _ := json.Marshal(e)
		mu.Lock()
		f[0].Write(append(line, '\n'))
		mu.Unlock()
	})
	return calls.Results(err, id)
}

// exec starts an exec with the descriptors it came with (none with a
// terminal), which its session keeps until ExecClose, and answers with
// the session's handle and, with a terminal, its console.
func (s *Server) exec(m *wire.Msg, files []*os.File) (*wire.Msg, error) {
	var id string
	var req calls.ExecRequest
	if err := calls.Args(m, &id, &req); err != nil {
		return nil, err
	}
	// The session keeps the descriptors past the call: copies of
	// Handle's, which it closes.
	var kept []*os.File
	for _, f := range files {
		c, err := wire.Dup(f)
		if err != nil {
			wire.CloseFiles(kept)
			return nil, err
		}
		kept = append(kept, c)
	}
	var stdio [3]*os.File
	copy(stdio[:], kept)
	sess, err := s.B.Exec(id, req, stdio[0], stdio[1], stdio[2])
	if err != nil {
		wire.CloseFiles(kept)
		return calls.Results(err, 0)
	}
	// The console goes to the program, which alone uses it: the answer
	// closes this process's copy once sent (a copy kept here would hold
	// a pty of the machine's for as long as the service runs).
	var reply []*os.File
	if c := sess.Console(); c != nil {
		reply = append(reply, c)
	}
	s.mu.Lock()
	if s.execs == nil {
		s.execs = map[int]keptFiles{}
	}
	s.next++
	h := s.next
	s.execs[h] = keptFiles{sess, kept}
	s.mu.Unlock()
	r, err := calls.Results(nil, h)
	r.Files = reply
	return r, err
}

func (s *Server) session(m *wire.Msg) (int, keptFiles, error) {
	var h int
	if err := calls.Args(m, &h); err != nil {
		return 0, keptFiles{}, err
	}
	s.mu.Lock()
	k, ok := s.execs[h]
	s.mu.Unlock()
	if !ok {
		return 0, keptFiles{}, fmt.Errorf("no exec session %d", h)
	}
	return h, k, nil
}

func (s *Server) execWait(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
	_, k, err := s.session(m)
	if err != nil {
		return nil, err
	}
	code, err := k.Wait()
	return calls.Results(err, code)
}

func (s *Server) execClose(m *wire.Msg, _ []*os.File) (*wire.Msg, error) {
	h, k, err := s.session(m)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.execs, h)
	s.mu.Unlock()
	k.Close()
	return calls.Results(nil)
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
