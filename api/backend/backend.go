package backend

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/build"
	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/cgroups/cgrouptypes"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/runtime"
)

// Backend is calls.Backend on one store.
type Backend struct {
	Store *image.Store
	// User is config.toml: launch defaults, the cgroups policy, the
	// storage driver; Pull how images are fetched (registries, TLS).
	User        config.User
	PullOptions image.PullOptions
	// Warn says one line to whoever runs the service.
	Warn func(string)
}

var _ calls.Backend = (*Backend)(nil)

func (b *Backend) io() container.IO { return container.IO{Warn: b.Warn} }

func (b *Backend) PS(all bool, filters []string) ([]calls.Listed, error) {
	rows, records, err := container.PSRecords(b.Store, all, filters)
	if err != nil {
		return nil, err
	}
	var out []calls.Listed
	for i, row := range rows {
		out = append(out, calls.Listed{Row: row, Container: view(records[i])})
	}
	return out, nil
}

func (b *Backend) Find(ref string) (*calls.Container, error) {
	c, err := container.Find(b.Store, ref)
	if err != nil {
		return nil, err
	}
	return view(c), nil
}

// view is what the API shows of c.
func view(c *container.Container) *calls.Container {
	cfg := c.Config
	v := &calls.Container{ID: c.ID, Name: c.Name, Image: c.Image, ImageID: c.ImageID, Created: c.Created,
		Network: cfg.Network, Networks: network.Names(cfg.Network), NetworkAliases: cfg.NetworkAliases,
		Labels: cfg.Labels, Env: cfg.Env, Cmd: cfg.Cmd, Entrypoint: cfg.Entrypoint, Hostname: cfg.Hostname,
		User: cfg.User, Workdir: cfg.Workdir, Restart: cfg.Restart, CapAdd: cfg.Security.CapAdd, CapDrop: cfg.Security.CapDrop,
		TTY: cfg.TTY, Interactive: cfg.Interactive, Detach: cfg.Detach, Rm: cfg.Rm, ReadOnly: cfg.ReadOnly, Privileged: cfg.Privileged}
	for _, m := range cfg.Volumes {
		v.Mounts = append(v.Mounts, calls.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Volume: m.Volume, ReadOnly: m.ReadOnly})
	}
	for _, p := range container.Ports(c) {
		v.Ports = append(v.Ports, calls.Port{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Proto: p.Proto})
	}
	return v
}

func (b *Backend) Inspect(ref string) (*calls.Details, error) {
	d, err := container.Inspect(b.Store, ref)
	if err != nil {
		return nil, err
	}
	// The record as Inspect read it: what view reads of it, d has.
	c := &container.Container{ID: d.Id, Name: d.Name, Image: d.ImageName, ImageID: d.Image, Created: d.Created, Config: d.Config}
	out := &calls.Details{Container: *view(c), Path: d.Path, Args: d.Args, RestartCount: d.RestartCount,
		State: calls.DetailsState{Status: d.State.Status, Running: d.State.Running, Restarting: d.State.Restarting,
			OOMKilled: d.State.OOMKilled, Pid: d.State.Pid, ExitCode: d.State.ExitCode,
			StartedAt: d.State.StartedAt, FinishedAt: d.State.FinishedAt},
		Endpoints: map[string]calls.Endpoint{}}
	if h := d.State.Health; h != nil {
		out.State.Health = &calls.Health{Status: h.Status, FailingStreak: h.FailingStreak}
		for _, l := range h.Log {
			out.State.Health.Log = append(out.State.Health.Log, calls.HealthLog{Start: l.Start, End: l.End, ExitCode: l.ExitCode, Output: l.Output})
		}
	}
	for name, e := range d.NetworkSettings.Networks {
		out.Endpoints[name] = calls.Endpoint{NetworkID: e.NetworkID, IPAddress: e.IPAddress, IPPrefixLen: e.IPPrefixLen,
			Gateway: e.Gateway, MacAddress: e.MacAddress, Aliases: e.Aliases, DNSNames: e.DNSNames}
	}
	return out, nil
}

func (b *Backend) State(id string) containertypes.State { return container.CurrentState(b.Store, id) }

// Create turns a create request into a container the way `run` turns
// flags into one: its launch layer (Layer) over config.toml's defaults,
// checked by the same checks, then by the same limit check.
func (b *Backend) Create(r calls.CreateRequest) (*calls.Container, error) {
	layer, err := Layer(r)
	if err != nil {
		return nil, calls.Mark(calls.ErrInvalid, err)
	}
	merged := config.Merge(config.Defaults(), b.User.Defaults, layer)
	if err := merged.Check(); err != nil {
		return nil, calls.Mark(calls.ErrInvalid, err)
	}
	cfg := container.FromApp(merged)
	cfg.Detach = true
	cfg.Rm = r.Rm
	cfg.KeepExit = cfg.Rm // its waiter learns its code after it is gone
	cfg.Interactive, cfg.TTY, cfg.StdinOnce = r.Interactive, r.TTY, r.StdinOnce
	container.ApplyUser(&cfg, b.User)
	if err := cfg.Validate(); err != nil {
		return nil, calls.Mark(calls.ErrInvalid, err)
	}
	if err := container.CheckLimits(&cfg); err != nil {
		return nil, calls.Mark(calls.ErrInvalid, err)
	}
	c, lock, err := container.Create(b.Store, cfg, b.io())
	if err != nil {
		return nil, err
	}
	lock.Close()
	return view(c), nil
}

// Layer is the launch layer a create request makes: each setting passes
// its key's own check, as a flag's value does, and every refusal is
// reported. Values may come as encoding/json decodes them.
func Layer(r calls.CreateRequest) (*config.App, error) {
	a := &config.App{Env: map[string]string{}, Sources: map[string]string{}}
	var errs []error
	for _, st := range r.Settings {
		k := config.Lookup(st.Key)
		if k == nil {
			errs = append(errs, fmt.Errorf("%q is not a launch key (docs/config.md)", st.Key))
			continue
		}
		v, err := k.Normalize(st.Value)
		if err == nil {
			v, err = check(k, v)
		}
		if err != nil {
			errs = append(errs, k.FlagError(st.Value, err))
			continue
		}
		k.Set(a, v, "flag")
	}
	if len(r.Command) > 0 {
		a.Command, a.Sources["command"] = r.Command, "flag"
	}
	if r.EntrypointSet {
		a.Entrypoint, a.EntrypointSet, a.Sources["entrypoint"] = r.Entrypoint, true, "flag"
	}
	for _, kv := range r.Env {
		k, v, _ := strings.Cut(kv, "=")
		a.Env[k], a.Sources["env."+k] = v, "flag"
	}
	add := func(m config.Mount) {
		a.Mounts = append(a.Mounts, m)
		a.Sources["mount "+m.Target] = "flag"
	}
	for _, spec := range r.Binds {
		m, err := container.ParseVolume(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add(config.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	for _, m := range r.Mounts {
		add(config.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Size: m.Size, Mode: m.Mode})
	}
	for _, spec := range r.Tmpfs {
		m, err := container.ParseTmpfs(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add(m)
	}
	// Anonymous volumes where no other mount is.
	for _, p := range r.Anonymous {
		if a.Sources["mount "+p] == "" {
			add(config.Mount{Type: "volume", Target: p})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// check runs k's own check on v (each element of a list), as a flag's
// value gets it; it may normalize the value.
func check(k *config.Key, v any) (any, error) {
	switch x := v.(type) {
	case string:
		return k.CheckString(x, "")
	case []string:
		out := make([]string, len(x))
		for i := range x {
			s, err := k.CheckString(x[i], "")
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case int64:
		return x, k.CheckNumber(float64(x))
	case float64:
		return x, k.CheckNumber(x)
	}
	return v, nil
}

func (b *Backend) Start(id string) error {
	_, _, err := container.Start(b.Store, id, false, b.io())
	return err
}

func (b *Backend) Stop(id string, timeout time.Duration) error {
	_, err := container.Stop(b.Store, id, timeout)
	return err
}

func (b *Backend) Kill(ref string, signal string) error {
	sig, err := container.ParseSignal(signal)
	if err != nil {
		return calls.Mark(calls.ErrInvalid, err)
	}
	_, err = container.Kill(b.Store, ref, sig)
	return err
}

func (b *Backend) RemovedExit(id string) (int, bool) { return container.RemovedExit(b.Store, id) }

func (b *Backend) Remove(ref string, force, volumes bool) error {
	_, err := container.RemoveRef(b.Store, ref, force, volumes)
	return err
}

func (b *Backend) Rename(ref, name string) error { return container.Rename(b.Store, ref, name) }

func (b *Backend) Prune() ([]string, error) {
	removed, err := container.Prune(b.Store)
	var ids []string
	for _, c := range removed {
		ids = append(ids, c.ID)
	}
	return ids, err
}

func (b *Backend) Logs(id string, o containertypes.LogOptions, stdout, stderr io.Writer) error {
	return container.Logs(b.Store, id, o, stdout, stderr)
}

func (b *Backend) RemovedLogs(id string, stdout, stderr io.Writer) bool {
	return container.RemovedLogs(b.Store, id, stdout, stderr)
}

func (b *Backend) AttachStdin(id string) (io.WriteCloser, error) {
	return container.AttachStdin(b.Store, id)
}

func (b *Backend) ResizeTTY(id string, rows, cols int) { container.ResizeTTY(b.Store, id, rows, cols) }

func (b *Backend) Exec(id string, req calls.ExecRequest, stdin, stdout, stderr *os.File) (calls.ExecSession, error) {
	r := runtime.ExecRequest{Args: req.Args, Env: req.Env, Cwd: req.Cwd, User: req.User, TTY: req.TTY, Rows: req.Rows, Cols: req.Cols}
	sess, err := b.exec(id, r, stdin, stdout, stderr)
	if err != nil {
		return nil, exitError(err)
	}
	return execSession{sess}, nil
}

// exec starts r (an exec, or a copy request) in running container id.
func (b *Backend) exec(id string, r runtime.ExecRequest, stdin, stdout, stderr *os.File) (*runtime.ExecSession, error) {
	socket, err := container.ExecSocket(b.Store, id)
	if err != nil {
		return nil, err
	}
	return runtime.StartExec(socket, r, stdin, stdout, stderr)
}

// exitError carries the exit code a runtime failure calls for.
func exitError(err error) error {
	if err == nil {
		return nil
	}
	return &calls.ExitError{Code: runtime.ExitCode(err), Err: err}
}

type execSession struct{ s *runtime.ExecSession }

func (e execSession) Console() *os.File { return e.s.Console }
func (e execSession) Close()            { e.s.Close() }

func (e execSession) Wait() (int, error) {
	code, err := e.s.Wait()
	return code, exitError(err)
}

func (b *Backend) Usage(cgroup string) (cgrouptypes.Usage, error) {
	return cgroups.Open(cgroup).Usage()
}

func (b *Backend) Volumes() ([]container.Volume, error) { return container.Volumes(b.Store) }

func (b *Backend) VolumeUsers() (map[string][]string, error) {
	users, err := container.VolumeUsers(b.Store)
	out := map[string][]string{}
	for name, cs := range users {
		for _, c := range cs {
			out[name] = append(out[name], c.ID)
		}
	}
	return out, err
}

func (b *Backend) CreateVolume(name string, labels map[string]string) (container.Volume, error) {
	return container.CreateVolumeWith(b.Store, name, labels)
}

func (b *Backend) InspectVolume(name string) (container.Volume, error) {
	return container.InspectVolume(b.Store, name)
}

func (b *Backend) RemoveVolume(name string) error { return container.RemoveVolume(b.Store, name) }

func (b *Backend) PruneVolumes() ([]string, error) { return container.PruneVolumes(b.Store) }

func (b *Backend) Networks() ([]container.Network, error) { return container.Networks(b.Store) }

func (b *Backend) InspectNetwork(name string) (container.Network, error) {
	return container.InspectNetwork(b.Store, name)
}

func (b *Backend) CreateNetwork(name string, o container.NetworkOptions) (container.Network, error) {
	return container.CreateNetwork(b.Store, name, o)
}

func (b *Backend) RemoveNetwork(name string) error { return container.RemoveNetwork(b.Store, name) }

func (b *Backend) PruneNetworks() ([]string, error) { return container.PruneNetworks(b.Store) }

func (b *Backend) ConnectNetwork(name, ref string, aliases []string) error {
	return container.ConnectNetwork(b.Store, name, ref, aliases)
}

func (b *Backend) DisconnectNetwork(name, ref string) error {
	return container.DisconnectNetwork(b.Store, name, ref)
}

func (b *Backend) Images() ([]image.Summary, error) { return b.Store.List() }

func (b *Backend) ImageUsers() (map[string][]string, error) { return container.UsersOf(b.Store) }

func (b *Backend) InspectImage(ref string) (*image.Details, error) { return b.Store.Inspect(ref) }

func (b *Backend) History(ref string) ([]image.HistoryRow, error) { return b.Store.History(ref) }

func (b *Backend) Tag(src, dst string) error { return b.Store.Tag(src, dst) }

func (b *Backend) RemoveImage(ref string, force bool) (image.RemoveResult, error) {
	return b.Store.Remove(ref, force, b.ImageUsers)
}

func (b *Backend) PruneImages(all bool) (image.RemoveResult, error) {
	return b.Store.Prune(all, b.ImageUsers)
}

func (b *Backend) Pull(ctx context.Context, ref, platform string, events func(image.ProgressEvent)) (string, error) {
	o := b.PullOptions
	o.Platform = platform
	o.Events = events
	img, err := b.Store.Pull(ctx, ref, o)
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

func (b *Backend) Push(ctx context.Context, ref string) (string, error) {
	return b.Store.Push(ctx, ref, ref, b.PullOptions)
}

func (b *Backend) Save(refs []string, w io.Writer) error {
	return b.Store.Save(refs, "docker-archive", w)
}

// Load reads a docker-archive or OCI tar into the store, through a file
// in the store's temporary directory (the formats need to seek).
func (b *Backend) Load(archive io.Reader) ([]calls.LoadedImage, error) {
	dir, release, err := b.Store.TempDir()
	if err != nil {
		return nil, err
	}
	defer release()
	p := dir + "/load.tar"
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, archive)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, calls.Mark(calls.ErrInvalid, fmt.Errorf("reading the archive: %w", err))
	}
	imgs, err := b.Store.Load(p, b.Warn)
	if err != nil {
		return nil, calls.Mark(calls.ErrInvalid, err)
	}
	var out []calls.LoadedImage
	for _, img := range imgs {
		out = append(out, calls.LoadedImage{ID: img.ID, Names: img.Names})
	}
	return out, nil
}

func (b *Backend) DiskUsage() (image.Usage, error) { return b.Store.DiskUsage() }

// Build unpacks the context into the store's temporary directory and
// builds it, each RUN in a sandbox made from config.toml's defaults.
func (b *Backend) Build(o calls.BuildOptions, context io.Reader, out *os.File) (string, error) {
	for _, t := range o.Tags {
		if _, err := config.Lookup("image").CheckString(t, ""); err != nil {
			return "", calls.Mark(calls.ErrInvalid, fmt.Errorf("t=%q: %w", t, err))
		}
	}
	dir, release, err := b.Store.TempDir()
	if err != nil {
		return "", err
	}
	defer release()
	if err := untarContext(context, dir); err != nil {
		return "", calls.Mark(calls.ErrInvalid, fmt.Errorf("reading the build context: %w", err))
	}
	bo := build.Options{Context: dir, File: o.File, Tags: o.Tags, BuildArgs: o.BuildArgs, Target: o.Target,
		NoCache: o.NoCache, Network: o.Network, Quiet: o.Quiet, Pull: b.PullOptions, Out: out, Warn: b.Warn}
	if bo.File != "" {
		// The API names it inside the context; the build, from here.
		bo.File = path.Join(dir, path.Clean("/"+bo.File))
	}
	bo.Run = container.FromApp(config.Merge(config.Defaults(), b.User.Defaults))
	container.ApplyUser(&bo.Run, b.User)
	bo.Run.StopTimeout = nil
	img, err := build.Build(b.Store, bo)
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

func (b *Backend) StoreRoot() string { return b.Store.Root }

// untarContext unpacks a build context into dir (inside it, whatever the
// names say), gunzipping it first when it is compressed.
func untarContext(body io.Reader, dir string) error {
	br := bufio.NewReader(body)
	var in io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		in = gz
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if rel == "" {
			continue
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(rel, 0o755); err != nil {
				return err
			}
			root.Chmod(rel, mode|0o700)
		case tar.TypeReg:
			root.MkdirAll(path.Dir(rel), 0o755)
			f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			root.Chtimes(rel, h.ModTime, h.ModTime)
		case tar.TypeSymlink:
			root.MkdirAll(path.Dir(rel), 0o755)
			if err := root.Symlink(h.Linkname, rel); err != nil {
				return err
			}
		}
	}
}
