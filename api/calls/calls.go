package calls

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/sandbox-dev/sandbox/cgroups/cgrouptypes"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
)

// The API versions served: the newest is what Debian 12's docker.io
// (20.10) speaks; a newer client negotiates down to it (/_ping's
// API-Version header).
const (
	Version    = "1.41"
	MinVersion = "1.24"
)

// Kinds of failure the server answers with their own status: ErrInvalid
// a request the store refused as invalid (a launch value its check
// refused, a limit that cannot be enforced), 400; ErrNoPath a path a
// copy names that the container lacks, 404. Mark attaches one to an
// error.
var (
	ErrInvalid = errors.New("invalid request")
	ErrNoPath  = errors.New("no such path")
)

// Mark makes err match kind (errors.Is) and keeps its message.
func Mark(kind, err error) error { return &marked{kind: kind, err: err} }

type marked struct{ kind, err error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.kind, m.err} }

// CreateRequest is a create request in the launch file's words: each
// Setting a launch key (docs/config.md) with its value as its flag would
// give it, checked by that key's own check; the command, entrypoint and
// environment; and the mounts, as -v's and --tmpfs's words, --mount's
// fields, and the image-style anonymous volumes (targets) that no other
// mount covers. The backend lays it over config.toml's defaults.
type CreateRequest struct {
	Settings      []Setting
	Command       []string
	Entrypoint    []string
	EntrypointSet bool
	Env           []string // KEY=VALUE, a later one wins
	Binds, Tmpfs  []string
	Mounts        []MountSpec
	Anonymous     []string
	CreateOptions
}

// Setting is one launch key's value: a string, bool, number or list of
// strings.
type Setting struct {
	Key   string
	Value any
}

// MountSpec is a --mount: bind, volume (Source its name, "" for an
// anonymous one) or tmpfs (Size bytes, Mode permissions; 0: defaults).
type MountSpec struct {
	Type, Source, Target string
	ReadOnly             bool
	Size                 int64
	Mode                 uint32
}

// CreateOptions are what a create request sets beside its launch layer.
type CreateOptions struct {
	Rm, Interactive, TTY, StdinOnce bool
}

// Container is what the API shows of a container's record: its names,
// and of its config what Docker's inspect and list carry.
type Container struct {
	ID, Name string
	// Image is the reference as the user gave it; ImageID what it
	// resolved to.
	Image, ImageID string
	Created        time.Time
	// Network is its mode or networks' names, comma separated; Networks
	// the user-defined networks' names among them.
	Network                                            string
	Networks                                           []string
	NetworkAliases                                     []string
	Labels, Env                                        []string
	Cmd                                                []string
	Entrypoint                                         []string
	Hostname, User                                     string
	Workdir                                            string
	Restart                                            string
	CapAdd                                             []string
	CapDrop                                            []string
	Mounts                                             []Mount
	Ports                                              []Port
	TTY, Interactive, Detach, Rm, ReadOnly, Privileged bool
}

// Listed is one container of a list: its ps row and its record.
type Listed struct {
	Row       containertypes.Row
	Container *Container
}

// Mount is a container's volume, bind or tmpfs; Volume names a named
// volume.
type Mount struct {
	Type, Source, Target, Volume string
	ReadOnly                     bool
}

// Port is a published port.
type Port struct {
	HostIP                  string
	HostPort, ContainerPort int
	Proto                   string
}

// Details is inspect's: the state and networks beside the record.
type Details struct {
	Container
	Path         string
	Args         []string
	RestartCount int
	State        DetailsState
	// Endpoints are its places on user-defined networks, by name.
	Endpoints map[string]Endpoint
}

// DetailsState is inspect's State.
type DetailsState struct {
	Status                         string
	Running, Restarting, OOMKilled bool
	Pid, ExitCode                  int
	StartedAt, FinishedAt          time.Time
	Health                         *Health
}

// Health is a running health check's record.
type Health struct {
	Status        string
	FailingStreak int
	Log           []HealthLog
}

// HealthLog is one test's result.
type HealthLog struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}

// Endpoint is a container's place on one network.
type Endpoint struct {
	NetworkID   string
	IPAddress   string
	IPPrefixLen int
	Gateway     string
	MacAddress  string
	Aliases     []string
	DNSNames    []string
}

// ExecRequest is a process to start in a running container: its
// arguments, what it adds to the container's environment, its working
// directory and user ("": the container's), and with TTY a terminal of
// Rows by Cols.
type ExecRequest struct {
	Args, Env  []string
	Cwd, User  string
	TTY        bool
	Rows, Cols uint16
}

// ExecSession is a process started by Backend.Exec.
type ExecSession interface {
	// Console is its terminal's master (ExecRequest.TTY), or nil.
	Console() *os.File
	// Wait returns its exit code once it has ended.
	Wait() (int, error)
	Close()
}

// ExitError is a failure that calls for an exit code of its own (126,
// 127: an exec whose command cannot run).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit code err calls for: an ExitError's, else 125
// (sandbox's own failure).
func ExitCode(err error) int {
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return 125
}

// LoadedImage is an image a load stored: its ID and the names the archive
// gave it.
type LoadedImage struct {
	ID    string
	Names []string
}

// BuildOptions are a build request's, without what the store fills in
// (its pull options, the containers RUN starts) or the context, which
// the backend unpacks where it builds.
type BuildOptions struct {
	File, Target, Network string
	Tags                  []string
	NoCache, Quiet        bool
	BuildArgs             map[string]string
}

// Backend is everything the API asks of the store, its containers, images,
// volumes and networks: the library's entry points with the store and the
// user's config.toml bound. Only types and pure functions of the library
// are used beside it, so that the server can live in a program apart from
// the library's code (docs/api.md).
type Backend interface {
	// Containers.
	// PS lists containers as `ps` does (all, or running ones; filters
	// are ps's), each with its record; one removed meanwhile is left out.
	PS(all bool, filters []string) ([]Listed, error)
	Find(ref string) (*Container, error)
	Inspect(ref string) (*Details, error)
	State(id string) containertypes.State
	// Create makes a detached container from a create request, over
	// config.toml's defaults, checked as run checks it.
	Create(r CreateRequest) (*Container, error)
	Start(id string) error
	Stop(id string, timeout time.Duration) error
	// Kill sends the signal named (KILL, SIGKILL, 9).
	Kill(ref string, signal string) error
	// RemovedExit is the exit code a removed --rm container left for its
	// waiters.
	RemovedExit(id string) (int, bool)
	Remove(ref string, force, volumes bool) error
	Rename(ref, name string) error
	Prune() ([]string, error)
	Logs(id string, o containertypes.LogOptions, stdout, stderr io.Writer) error
	RemovedLogs(id string, stdout, stderr io.Writer) bool
	AttachStdin(id string) (io.WriteCloser, error)
	ResizeTTY(id string, rows, cols int)
	// Exec starts req in running container id with those descriptors
	// (with req.TTY, none: the session has a console).
	Exec(id string, req ExecRequest, stdin, stdout, stderr *os.File) (ExecSession, error)
	// ArchiveStat is Docker's X-Docker-Container-Path-Stat of path in
	// running container id; ArchiveGet writes path as a tar to w;
	// ArchivePut unpacks the tar r at path. The container's init does
	// each copy (runtime.ExecRequest.Archive).
	ArchiveStat(id, path string) (string, error)
	ArchiveGet(id, path string, w io.Writer) error
	ArchivePut(id, path string, keepOwners bool, r io.Reader) error
	// Usage is a running container's cgroup's counters.
	Usage(cgroup string) (cgrouptypes.Usage, error)

	// Volumes.
	Volumes() ([]containertypes.Volume, error)
	// VolumeUsers maps volume names to the IDs of the containers that
	// mount them.
	VolumeUsers() (map[string][]string, error)
	CreateVolume(name string, labels map[string]string) (containertypes.Volume, error)
	InspectVolume(name string) (containertypes.Volume, error)
	RemoveVolume(name string) error
	PruneVolumes() ([]string, error)

	// Networks.
	Networks() ([]containertypes.Network, error)
	InspectNetwork(name string) (containertypes.Network, error)
	CreateNetwork(name string, o containertypes.NetworkOptions) (containertypes.Network, error)
	RemoveNetwork(name string) error
	PruneNetworks() ([]string, error)
	ConnectNetwork(name, ref string, aliases []string) error
	DisconnectNetwork(name, ref string) error

	// Images.
	Images() ([]imagetypes.Summary, error)
	// ImageUsers maps image IDs to the containers made from them.
	ImageUsers() (map[string][]string, error)
	InspectImage(ref string) (*imagetypes.Details, error)
	History(ref string) ([]imagetypes.HistoryRow, error)
	Tag(src, dst string) error
	RemoveImage(ref string, force bool) (imagetypes.RemoveResult, error)
	PruneImages(all bool) (imagetypes.RemoveResult, error)
	// Pull returns the pulled image's ID.
	Pull(ctx context.Context, ref, platform string, events func(imagetypes.ProgressEvent)) (string, error)
	Push(ctx context.Context, ref string) (string, error)
	Save(refs []string, w io.Writer) error
	Load(archive io.Reader) ([]LoadedImage, error)
	DiskUsage() (imagetypes.Usage, error)
	// Build builds the context (a tar, gzipped or not) with o and
	// returns the image's ID; out gets the build's output lines.
	Build(o BuildOptions, context io.Reader, out *os.File) (string, error)

	// StoreRoot is where the store lives (/info's DockerRootDir).
	StoreRoot() string
}
