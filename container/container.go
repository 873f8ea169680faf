package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// ErrNameInUse is returned when --name is taken by another container.
var ErrNameInUse = errors.New("container name already in use")

// Container is container.json: what the container was created from and
// with. It never changes after create.
type Container struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Image   string    `json:"image"`    // the reference as the user gave it
	ImageID string    `json:"image_id"` // what it resolved to
	Created time.Time `json:"created"`
	Config  Config    `json:"config"`
}

// Dir is where a container's records and writable layer live.
func Dir(s *image.Store, id string) string { return filepath.Join(s.ContainersDir(), id) }

// create allocates an ID and a unique name and writes the container's
// directory. The returned lock is held for as long as the container is
// being run by this process: a sweeper that can take it knows nobody is.
func create(s *image.Store, img *image.Image, cfg Config, id string) (*Container, *os.File, error) {
	if id == "" {
		id = randomHex(32)
	}
	c := &Container{ID: id, Name: cfg.Name, Image: cfg.Image, ImageID: img.ID, Created: time.Now().UTC(), Config: cfg}
	unlock, err := s.Lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	names, err := names(s)
	if err != nil {
		return nil, nil, err
	}
	if c.Name == "" {
		for c.Name == "" || names[c.Name] != "" {
			c.Name = generateName()
		}
	} else if names[c.Name] != "" {
		return nil, nil, fmt.Errorf("%w: %q is used by container %s; choose another --name or remove that container with `sandbox rm %s`", ErrNameInUse, c.Name, names[c.Name], c.Name)
	}
	dir := Dir(s, c.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating the container directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	for _, d := range []string{"upper", "work", "merged", "userdata"} {
		if err == nil {
			err = os.Mkdir(filepath.Join(dir, d), 0o755)
		}
	}
	if err == nil {
		// A --rm container is gone when this process ends, and a killed
		// one is swept: its record need not survive a power cut, so spare
		// it the fsyncs (2 ms of a 40 ms start).
		write := image.WriteFileAtomic
		if cfg.Rm {
			write = writeFileNoSync
		}
		err = write(filepath.Join(dir, "container.json"), mustJSON(c), 0o600)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("creating container %s: %w", c.ID[:12], err)
	}
	return c, lock, nil
}

// names maps every container name to its short ID.
func names(s *image.Store) (map[string]string, error) {
	entries, err := os.ReadDir(s.ContainersDir())
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		c, err := load(s, e.Name())
		if err == nil {
			out[c.Name] = c.ID[:12]
		}
	}
	return out, nil
}

func load(s *image.Store, id string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(Dir(s, id), "container.json"))
	if err != nil {
		return nil, err
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("reading container %s: %w", id, err)
	}
	return &c, nil
}

// SweepRemoved removes --rm containers that ran and whose recorder is gone
// (a SIGKILLed CLI or monitor cannot clean up after itself), and
// directories a killed create left without a container.json. A container
// in use holds its lock.
func SweepRemoved(s *image.Store) {
	// Staging left by a killed command (a commit, a pull) goes too: every
	// command that writes the store sweeps it.
	s.SweepTemp()
	// Under the store lock, which create holds from mkdir to lock: a
	// container being made is never mistaken for a dead one.
	unlock, err := s.Lock()
	if err != nil {
		return
	}
	entries, err := os.ReadDir(s.ContainersDir())
	if err != nil {
		unlock()
		return
	}
	var trash []string
	for _, e := range entries {
		dir := Dir(s, e.Name())
		c, err := load(s, e.Name())
		// A --rm container goes once it has run; one only created waits
		// for its start (create --rm, then start).
		if err == nil && (!c.Config.Rm || readState(s, c.ID).Status == Created) {
			continue
		}
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			t := filepath.Join(s.Root, "tmp", image.TrashContainerPrefix+e.Name())
			if os.Rename(dir, t) == nil {
				trash = append(trash, t)
				if c != nil {
					if rd, err := runDir(s, c); err == nil {
						os.RemoveAll(rd)
					}
				}
			}
		}
		lock.Close()
	}
	unlock()
	for _, t := range trash {
		runtime.RemoveAll(s.Mapping, t)
	}
}

// writeFileNoSync writes atomically (temp file and rename) without fsync.
func writeFileNoSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	adjectives = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quick", "quiet", "sharp", "silly", "sleepy", "sunny", "tender", "vivid", "witty", "zen"}
	nouns      = []string{"albatross", "badger", "cheetah", "dolphin", "eagle", "falcon", "gecko", "heron", "ibis", "jaguar", "koala", "lemur", "marmot", "narwhal", "otter", "panda", "quokka", "raven", "salmon", "tapir", "urchin", "walrus", "yak", "zebra"}
)

func generateName() string {
	b := make([]byte, 2)
	rand.Read(b)
	return adjectives[int(b[0])%len(adjectives)] + "_" + nouns[int(b[1])%len(nouns)]
}
