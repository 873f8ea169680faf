package calls

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"time"

	"github.com/sandbox-dev/sandbox/cgroups/cgrouptypes"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// Remote is a Backend in another process, reached through peer: the
// server's program calls the CLI that holds the store so.
type Remote struct {
	Peer *wire.Peer
}

var _ Backend = Remote{}

// call sends op with args and the files (which it closes) and decodes
// the results into ptrs.
func (r Remote) call(op string, args []any, files []*os.File, ptrs ...any) error {
	_, err := r.callMsg(op, args, files, ptrs...)
	return err
}

// callMsg is call that also returns the answer (its Files are the
// caller's unless the call failed: then they are closed).
func (r Remote) callMsg(op string, args []any, files []*os.File, ptrs ...any) (*wire.Msg, error) {
	if args == nil {
		args = []any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		wire.CloseFiles(files)
		return nil, err
	}
	m, err := r.Peer.Call(&wire.Msg{Op: op, Data: b}, files...)
	if err = results(m, err, ptrs...); err != nil && m != nil {
		wire.CloseFiles(m.Files)
	}
	return m, err
}

// callReading is call with one more descriptor last: a pipe's write end
// whose read end read takes while the call runs (the output of a logs,
// an archive, a save, a pull's progress). It returns once both are done.
func (r Remote) callReading(op string, args []any, read func(io.Reader), ptrs ...any) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		read(pr)
		// A reader gone (a client that hung up) fails the writer's next
		// write, which ends the call.
		pr.Close()
	}()
	err = r.call(op, args, []*os.File{pw}, ptrs...)
	<-done
	return err
}

// copyTo is a callReading reader that copies to w.
func copyTo(w io.Writer) func(io.Reader) { return func(r io.Reader) { io.Copy(w, r) } }

// framesTo is a callReading reader of a container's stdout and stderr,
// framed in one stream so that their order is kept (stream.go).
func framesTo(stdout, stderr io.Writer) func(io.Reader) {
	return func(r io.Reader) { readFrames(r, stdout, stderr) }
}

// inPipe is a pipe whose read end a call passes and whose write end is
// fed from src meanwhile, framed (stream.go) so that a src that fails
// midway is not taken for a short one. done stops the feeding and waits
// for it: the caller's src (a request's body) is not read after the
// call.
func inPipe(src io.Reader) (readEnd *os.File, done func(), err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		sendFramed(pw, src)
		pw.Close()
	}()
	return pr, func() {
		// A write after this fails, which ends the feeder at its next.
		pw.Close()
		<-fed
	}, nil
}

func (r Remote) PS(all bool, filters []string) (list []Listed, err error) {
	err = r.call("PS", []any{all, filters}, nil, &list)
	return list, err
}

func (r Remote) Find(ref string) (c *Container, err error) {
	err = r.call("Find", []any{ref}, nil, &c)
	return c, err
}

func (r Remote) Inspect(ref string) (d *Details, err error) {
	err = r.call("Inspect", []any{ref}, nil, &d)
	return d, err
}

func (r Remote) State(id string) (st containertypes.State) {
	r.call("State", []any{id}, nil, &st)
	return st
}

func (r Remote) Create(req CreateRequest) (c *Container, err error) {
	err = r.call("Create", []any{req}, nil, &c)
	return c, err
}

func (r Remote) Start(id string) error { return r.call("Start", []any{id}, nil) }

func (r Remote) Stop(id string, timeout time.Duration) error {
	return r.call("Stop", []any{id, timeout}, nil)
}

func (r Remote) Kill(ref, signal string) error { return r.call("Kill", []any{ref, signal}, nil) }

func (r Remote) RemovedExit(id string) (code int, ok bool) {
	r.call("RemovedExit", []any{id}, nil, &code, &ok)
	return code, ok
}

func (r Remote) Remove(ref string, force, volumes bool) error {
	return r.call("Remove", []any{ref, force, volumes}, nil)
}

func (r Remote) Rename(ref, name string) error { return r.call("Rename", []any{ref, name}, nil) }

func (r Remote) Prune() (ids []string, err error) {
	err = r.call("Prune", nil, nil, &ids)
	return ids, err
}

func (r Remote) Logs(id string, o containertypes.LogOptions, stdout, stderr io.Writer) error {
	return r.callReading("Logs", []any{id, o}, framesTo(stdout, stderr))
}

func (r Remote) RemovedLogs(id string, stdout, stderr io.Writer) (ok bool) {
	r.callReading("RemovedLogs", []any{id}, framesTo(stdout, stderr), &ok)
	return ok
}

// AttachStdin's answer carries the socket to the container's monitor.
func (r Remote) AttachStdin(id string) (io.WriteCloser, error) {
	m, err := r.callMsg("AttachStdin", []any{id}, nil)
	if err != nil {
		return nil, err
	}
	if len(m.Files) != 1 {
		wire.CloseFiles(m.Files)
		return nil, io.ErrUnexpectedEOF
	}
	defer m.Files[0].Close()
	return net.FileConn(m.Files[0])
}

func (r Remote) ResizeTTY(id string, rows, cols int) { r.call("ResizeTTY", []any{id, rows, cols}, nil) }

// Exec passes the descriptors it is given (null for a nil one); its
// answer names the session and, with a terminal, carries the console.
func (r Remote) Exec(id string, req ExecRequest, stdin, stdout, stderr *os.File) (ExecSession, error) {
	var files []*os.File
	if !req.TTY {
		for _, f := range []*os.File{stdin, stdout, stderr} {
			var err error
			if f == nil {
				f, err = os.OpenFile(os.DevNull, os.O_RDWR, 0)
			} else {
				f, err = wire.Dup(f)
			}
			if err != nil {
				wire.CloseFiles(files)
				return nil, err
			}
			files = append(files, f)
		}
	}
	var handle int
	m, err := r.callMsg("Exec", []any{id, req}, files, &handle)
	if err != nil {
		return nil, err
	}
	s := &remoteExec{r: r, handle: handle}
	if len(m.Files) > 0 {
		s.console = m.Files[0]
		wire.CloseFiles(m.Files[1:])
	}
	return s, nil
}

type remoteExec struct {
	r       Remote
	handle  int
	console *os.File
}

func (e *remoteExec) Console() *os.File { return e.console }

func (e *remoteExec) Wait() (code int, err error) {
	err = e.r.call("ExecWait", []any{e.handle}, nil, &code)
	return code, err
}

func (e *remoteExec) Close() { e.r.call("ExecClose", []any{e.handle}, nil) }

func (r Remote) ArchiveStat(id, path string) (stat string, err error) {
	err = r.call("ArchiveStat", []any{id, path}, nil, &stat)
	return stat, err
}

func (r Remote) ArchiveGet(id, path string, w io.Writer) error {
	return r.callReading("ArchiveGet", []any{id, path}, copyTo(w))
}

func (r Remote) ArchivePut(id, path string, keepOwners bool, src io.Reader) error {
	in, done, err := inPipe(src)
	if err != nil {
		return err
	}
	defer done()
	return r.call("ArchivePut", []any{id, path, keepOwners}, []*os.File{in})
}

func (r Remote) Usage(cgroup string) (u cgrouptypes.Usage, err error) {
	err = r.call("Usage", []any{cgroup}, nil, &u)
	return u, err
}

func (r Remote) Volumes() (vs []containertypes.Volume, err error) {
	err = r.call("Volumes", nil, nil, &vs)
	return vs, err
}

func (r Remote) VolumeUsers() (users map[string][]string, err error) {
	err = r.call("VolumeUsers", nil, nil, &users)
	return users, err
}

func (r Remote) CreateVolume(name string, labels map[string]string) (v containertypes.Volume, err error) {
	err = r.call("CreateVolume", []any{name, labels}, nil, &v)
	return v, err
}

func (r Remote) InspectVolume(name string) (v containertypes.Volume, err error) {
	err = r.call("InspectVolume", []any{name}, nil, &v)
	return v, err
}

func (r Remote) RemoveVolume(name string) error { return r.call("RemoveVolume", []any{name}, nil) }

func (r Remote) PruneVolumes() (names []string, err error) {
	err = r.call("PruneVolumes", nil, nil, &names)
	return names, err
}

func (r Remote) Networks() (ns []containertypes.Network, err error) {
	err = r.call("Networks", nil, nil, &ns)
	return ns, err
}

func (r Remote) InspectNetwork(name string) (n containertypes.Network, err error) {
	err = r.call("InspectNetwork", []any{name}, nil, &n)
	return n, err
}

func (r Remote) CreateNetwork(name string, o containertypes.NetworkOptions) (n containertypes.Network, err error) {
	err = r.call("CreateNetwork", []any{name, o}, nil, &n)
	return n, err
}

func (r Remote) RemoveNetwork(name string) error { return r.call("RemoveNetwork", []any{name}, nil) }

func (r Remote) PruneNetworks() (names []string, err error) {
	err = r.call("PruneNetworks", nil, nil, &names)
	return names, err
}

func (r Remote) ConnectNetwork(name, ref string, aliases []string) error {
	return r.call("ConnectNetwork", []any{name, ref, aliases}, nil)
}

func (r Remote) DisconnectNetwork(name, ref string) error {
	return r.call("DisconnectNetwork", []any{name, ref}, nil)
}

func (r Remote) Images() (rows []imagetypes.Summary, err error) {
	err = r.call("Images", nil, nil, &rows)
	return rows, err
}

func (r Remote) ImageUsers() (users map[string][]string, err error) {
	err = r.call("ImageUsers", nil, nil, &users)
	return users, err
}

func (r Remote) InspectImage(ref string) (d *imagetypes.Details, err error) {
	err = r.call("InspectImage", []any{ref}, nil, &d)
	return d, err
}

func (r Remote) History(ref string) (rows []imagetypes.HistoryRow, err error) {
	err = r.call("History", []any{ref}, nil, &rows)
	return rows, err
}

func (r Remote) Tag(src, dst string) error { return r.call("Tag", []any{src, dst}, nil) }

func (r Remote) RemoveImage(ref string, force bool) (res imagetypes.RemoveResult, err error) {
	err = r.call("RemoveImage", []any{ref, force}, nil, &res)
	return res, err
}

func (r Remote) PruneImages(all bool) (res imagetypes.RemoveResult, err error) {
	err = r.call("PruneImages", []any{all}, nil, &res)
	return res, err
}

// Pull's progress comes as JSON lines through a pipe it passes.
func (r Remote) Pull(_ context.Context, ref, platform string, events func(imagetypes.ProgressEvent)) (id string, err error) {
	err = r.callReading("Pull", []any{ref, platform}, func(pr io.Reader) {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var e imagetypes.ProgressEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil && events != nil {
				events(e)
			}
		}
	}, &id)
	return id, err
}

func (r Remote) Push(_ context.Context, ref string) (digest string, err error) {
	err = r.call("Push", []any{ref}, nil, &digest)
	return digest, err
}

func (r Remote) Save(refs []string, w io.Writer) error {
	return r.callReading("Save", []any{refs}, copyTo(w))
}

func (r Remote) Load(archive io.Reader) (imgs []LoadedImage, err error) {
	in, done, err := inPipe(archive)
	if err != nil {
		return nil, err
	}
	defer done()
	err = r.call("Load", nil, []*os.File{in}, &imgs)
	return imgs, err
}

func (r Remote) DiskUsage() (u imagetypes.Usage, err error) {
	err = r.call("DiskUsage", nil, nil, &u)
	return u, err
}

// Build passes the context through a pipe, and out as it is.
func (r Remote) Build(o BuildOptions, context io.Reader, out *os.File) (id string, err error) {
	in, done, err := inPipe(context)
	if err != nil {
		return "", err
	}
	defer done()
	o2, err := wire.Dup(out)
	if err != nil {
		in.Close()
		return "", err
	}
	err = r.call("Build", []any{o}, []*os.File{in, o2}, &id)
	return id, err
}

func (r Remote) StoreRoot() (root string) {
	r.call("StoreRoot", nil, nil, &root)
	return root
}
