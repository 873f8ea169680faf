package container

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/codec"
	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// ErrNameInUse is returned when --name is taken by another container.
var ErrNameInUse = containertypes.ErrNameInUse

// Container is container.json: what the container was created from and
// with. It never changes after create.
//
//easyjson:json
type Container struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Image   string    `json:"image"`    // the reference as the user gave it
	ImageID string    `json:"image_id"` // what it resolved to
	Created time.Time `json:"created"`
	Config  Config    `json:"config"`
	// Run says `run` made it, to start it at once: unlike one made by
	// `create --rm` (which waits for its `start`), a --rm container of a
	// run that died before the start will never be started, and a sweep
	// removes it once its lock is free.
	Run bool `json:"run,omitempty"`
}

// Dir is where a container's records and writable layer live.
func Dir(s *image.Store, id string) string { return filepath.Join(s.ContainersDir(), id) }

// recordPath is container id's record, container.json: only ever
// replaced whole (the name index's proof relies on it).
func recordPath(s *image.Store, id string) string { return filepath.Join(Dir(s, id), "container.json") }

// create allocates an ID and a unique name and writes the container's
// directory. The returned lock is held for as long as the container is
// being run by this process: a sweeper that can take it knows nobody is.
func create(s *image.Store, img *image.Image, cfg Config, id string, run bool) (*Container, *os.File, error) {
	if id == "" {
		id = image.RandomHex(32)
	}
	c := &Container{ID: id, Name: cfg.Name, Image: cfg.Image, ImageID: img.ID, Created: time.Now().UTC(), Config: cfg, Run: run}
	unlock, err := s.Lock()
	if err != nil {
		return nil, nil, err
	}
	// An rmi or prune between the resolution and now (they decide under
	// this lock which images containers use).
	if !s.StillHas(img) {
		unlock()
		return nil, nil, fmt.Errorf("%w: %s was removed while the container was being made; pull or build it again", image.ErrNotFound, img.ID)
	}
	// And a volume rm or prune (they too decide under this lock).
	for _, v := range volumesOf(c) {
		if _, err := os.Stat(volumeDir(s, v)); err != nil {
			unlock()
			return nil, nil, fmt.Errorf("volume %s was removed while the container was being made: %w", v, err)
		}
	}
	// One pass over the store: the sweep reads every record anyway, and
	// the names come from the same reads.
	names, trash, err := sweepLocked(s)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	defer removeTrash(s, trash) // after the unlock below: slow, and needs no lock
	defer unlock()
	if c.Name == "" {
		c.Name = freeName(names)
	} else if names[c.Name] != "" {
		return nil, nil, fmt.Errorf("%w: %q is used by container %s; choose another --name or remove that container with `sandbox rm %s`", ErrNameInUse, c.Name, names[c.Name], c.Name)
	}
	dir := Dir(s, c.ID)
	// A skeleton a removal made (skeletonName) is one rename where making
	// the directories is six inodes; the first, in containers/, where
	// ext4 spreads directories (spreadSubdirs), took 0.13 ms alone.
	made := os.Rename(filepath.Join(s.Root, "tmp", skeletonName), dir) == nil
	if !made {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("creating the container directory: %w", err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	for _, d := range containerDirs {
		if err == nil && !made {
			err = os.Mkdir(filepath.Join(dir, d), 0o755)
		}
	}
	if err == nil {
		// A --rm container is gone when this process ends, and a killed
		// one is swept: its record need not survive a power cut, so spare
		// it the fsyncs (2 ms of a 40 ms start).
		write := image.WriteFileAtomic
		if cfg.Rm {
			write = image.WriteFileNoSync
		}
		err = write(filepath.Join(dir, "container.json"), recordJSON(c), 0o600)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("creating container %s: %w", c.ID[:12], err)
	}
	addNameEntry(s, c.ID, c.Name, c.Config.Rm)
	return c, lock, nil
}

// containerDirs are the directories in a container's own: its overlay's
// upper, work and mount point, and the files made for it (/etc's).
var containerDirs = []string{"upper", "work", "merged", "userdata"}

// skeletonName is tmp/'s name for a container's directory made ahead
// with these directories (image.SkeletonPrefix): the layout is in it, so
// that a skeleton an older binary made with another is never taken.
var skeletonName = image.SkeletonPrefix + strings.Join(containerDirs, "+")

// names maps every container name to its short ID.
func names(s *image.Store) (map[string]string, error) {
	recs, err := scan(s)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(recs))
	for _, r := range recs {
		if r.err == nil {
			out[r.Name] = r.ID[:12]
		}
	}
	return out, nil
}

func load(s *image.Store, id string) (*Container, error) {
	b, err := os.ReadFile(recordPath(s, id))
	if err != nil {
		return nil, err
	}
	var c Container
	if err := codec.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("reading container %s (%s): %w (`sandbox system check` reports it, `sandbox rm -f %s` removes it)", id, recordPath(s, id), err, id)
	}
	return &c, nil
}

// record is what a pass over the whole store needs of each container:
// its name, and whether it goes once it has run. Every run passes over
// the store (to sweep, and for a unique name), so that pass decodes only
// these fields, once each: reading every record whole, twice, made a run
// 49 µs longer per container in the store (2.45 ms with 50 stopped ones).
// Plain paths, not os.Root: its checked walk cost a run with 50 stopped
// containers 60 page faults and 4 ms more.
type record struct {
	dir     string // the directory's name
	missing bool   // no container.json: what a create killed before writing it left
	err     error  // no usable record (missing, or damaged: `system check` reports it)
	ID      string `json:"id"`
	Name    string `json:"name"`
	Config  struct {
		Rm bool `json:"rm"`
	} `json:"config"`
	Run bool `json:"run"` // Container.Run
}

// scan gives what the store says of every container directory in it:
// from the name index (names.go) where it has an entry, else from the
// record, which then gets one (a container that stays). It mends the
// index as it goes, so the caller holds the store lock.
func scan(s *image.Store) ([]record, error) {
	ents, err := os.ReadDir(s.ContainersDir())
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	idx := readNameIndex(s)
	out := make([]record, 0, len(ents))
	for _, e := range ents {
		ids := idx[e.Name()]
		delete(idx, e.Name())
		if name, ok := trustedName(s, e.Name(), ids, true); ok {
			out = append(out, record{dir: e.Name(), ID: e.Name(), Name: name})
			continue
		}
		r := readRecord(s, e.Name())
		if r.err == nil && r.ID == e.Name() {
			addNameEntry(s, r.ID, r.Name, r.Config.Rm)
		}
		out = append(out, r)
	}
	// What is left names containers that are gone.
	for _, ents := range idx {
		for _, e := range ents {
			os.Remove(filepath.Join(namesDir(s), e.file))
		}
	}
	return out, nil
}

// sweepLocked moves into the store's tmp/ the --rm containers that ran
// and whose recorder is gone (a SIGKILLed CLI or monitor cannot clean up
// after itself), and directories a killed create left without a
// container.json; a container in use holds its lock. A damaged record is
// left for `system check --repair`: a run never removes a container the
// user did not ask to lose. It returns the paths it moved, with the names
// of the containers that stay. The caller holds the store lock, which
// create holds from mkdir to lock: a container being made is never
// mistaken for a dead one.
func sweepLocked(s *image.Store) (names map[string]string, trash []string, err error) {
	recs, err := scan(s)
	if err != nil {
		return nil, nil, err
	}
	names = make(map[string]string, len(recs))
	for _, r := range recs {
		// A --rm container goes once it has run; one only created waits
		// for its start (create --rm, then start), unless a run made it
		// (its lock, held from the making through the run, tells whether
		// that run lives).
		if r.err != nil && !r.missing {
			continue // damaged
		}
		if r.err == nil && (!r.Config.Rm || (!r.Run && readState(s, r.ID).Status == Created)) {
			names[r.Name] = r.ID[:12]
			continue
		}
		dir := Dir(s, r.dir)
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
		if err != nil {
			if r.err == nil {
				names[r.Name] = r.ID[:12] // not swept: its name stays taken
			}
			continue
		}
		taken := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
		t := filepath.Join(s.Root, "tmp", image.TrashContainerPrefix+r.dir)
		if taken && os.Rename(dir, t) == nil {
			trash = append(trash, t)
			if r.err == nil {
				if rd, err := runDir(s, &Container{ID: r.ID}); err == nil {
					os.RemoveAll(rd)
				}
			}
		} else if r.err == nil {
			names[r.Name] = r.ID[:12] // in use: its name is still taken
		}
		lock.Close()
	}
	return names, trash, nil
}

// removeTrash removes what a sweep moved into tmp/, and what killed
// commands left there.
func removeTrash(s *image.Store, trash []string) {
	for _, t := range trash {
		runtime.RemoveAll(s.Mapping, s.RunDir, t)
	}
	s.SweepTemp()
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

var (
	adjectives = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quick", "quiet", "sharp", "silly", "sleepy", "sunny", "tender", "vivid", "witty", "zen"}
	nouns      = []string{"albatross", "badger", "cheetah", "dolphin", "eagle", "falcon", "gecko", "heron", "ibis", "jaguar", "koala", "lemur", "marmot", "narwhal", "otter", "panda", "quokka", "raven", "salmon", "tapir", "urchin", "walrus", "yak", "zebra"}
)

// freeName is a name for a container given none that taken does not
// hold: two words, as Docker's, and once eight tries found theirs taken
// (there are 528 pairs), a number too, from a range that grows with the
// tries, so that the search ends however many containers there are.
func freeName(taken map[string]string) string {
	for try := 0; ; try++ {
		name := adjectives[rand.IntN(len(adjectives))] + "_" + nouns[rand.IntN(len(nouns))]
		if try >= 8 {
			name += strconv.Itoa(rand.IntN(10 * try))
		}
		if taken[name] == "" {
			return name
		}
	}
}
