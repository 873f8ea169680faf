package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/transfer"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// PullOptions says how to reach registries.
type PullOptions struct {
	// Platform is "os/arch[/variant]"; empty means this machine's.
	Platform string
	// TLSVerify false allows plain HTTP and unverified HTTPS for every
	// registry; Insecure lists registries allowed that anyway.
	TLSVerify bool
	Insecure  []string
	// InsecureLoopback allows plain HTTP to registries on a loopback
	// address (127.0.0.0/8, ::1, localhost), as Docker's daemon does.
	InsecureLoopback bool
	// Progress, when not nil, receives per-layer progress (a terminal);
	// Events, when not nil, gets it as events instead.
	Progress io.Writer
	Events   func(ProgressEvent)
	// Note receives one-line remarks (skipped device nodes).
	Note func(string)
}

// parallelLayers bounds the layers fetched at once: enough to fill a link,
// few enough that unpacking (one process each) does not thrash two cores.
const parallelLayers = 3

// Pull fetches an image from its registry into the store and names it by
// its fully qualified reference. A reference without a registry is tried
// against each search registry in turn. Layers already in the store are not
// fetched again; each new one is streamed, verified (its digest and its diff
// ID) and unpacked while it downloads, so memory does not grow with its size.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	cands := Candidates(ref, s.searchList())
	if len(cands) == 0 {
		_, err := NormalizeRef(ref)
		return nil, err
	}
	plat, err := parsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	s.SweepTemp()
	release, err := s.gcLock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer release()
	sess, err := transfer.Start(ctx, s.RunDir, nil)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	var errs []string
	for _, cand := range cands {
		img, err := s.pullOne(sess, cand, plat, o)
		if err == nil {
			return img, nil
		}
		if !notFound(err) || len(cands) == 1 {
			return nil, err
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("%w: %q in any of %s: %s", ErrNotFound, ref, strings.Join(s.searchList(), ", "), strings.Join(errs, "; "))
}

func (s *Store) searchList() []string {
	if len(s.Search) == 0 {
		return []string{"docker.io"}
	}
	return s.Search
}

func (s *Store) pullOne(sess *transfer.Session, ref string, plat v1.Platform, o PullOptions) (*Image, error) {
	runtime.Trace("pull: fetching the manifest of %s", ref)
	img, err := sess.Resolve(ref, platformString(plat), o.insecure(registryOf(ref)))
	if err != nil {
		return nil, err
	}
	if err := checkManifest(img); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(img.Config))
	if err != nil {
		return nil, fmt.Errorf("parsing the config of %s: %w", ref, err)
	}
	if len(img.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s has %d layers but its config lists %d diff IDs", ref, len(img.Layers), len(cfg.RootFS.DiffIDs))
	}
	runtime.Trace("pull: manifest and config fetched")
	stats, err := s.fetchLayers(sess, ref, img, cfg.RootFS.DiffIDs, o)
	if err != nil {
		return nil, err
	}
	runtime.Trace("pull: layers stored")
	rec, err := s.addImageWithManifest(img.Config, cfg.Created.Time, stats, []string{ref}, img.Manifest)
	runtime.Trace("pull: image recorded")
	return rec, err
}

// fetchLayers fetches and unpacks the layers the store lacks, a few at a
// time, and returns every layer's stats in order.
func (s *Store) fetchLayers(sess *transfer.Session, ref string, img wire.Image, diffIDs []v1.Hash, o PullOptions) ([]layerStats, error) {
	stats := make([]layerStats, len(img.Layers))
	bars := newProgress(o.Progress, o.Events)
	defer bars.stop()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		slots = make(chan struct{}, parallelLayers)
	)
	for i := range img.Layers {
		want := diffIDs[i].String()
		if ls, ok := s.layerStats(want); ok {
			stats[i] = ls
			bars.done(want, "already exists")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			ls, err := s.fetchLayer(sess, img, i, want, bars)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			stats[i] = ls
			if ls.DevicesSkipped > 0 && o.Note != nil {
				o.Note(fmt.Sprintf("layer %s: skipped %d device nodes (an unprivileged user cannot create them)", ShortID(want), ls.DevicesSkipped))
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("pulling %s: %w", ref, errors.Join(errs...))
	}
	return stats, nil
}

// fetchLayer streams one layer from the registry into the store: the
// compressed bytes are hashed against the layer's digest, decompressed,
// hashed against the diff ID, and unpacked, all as they arrive.
func (s *Store) fetchLayer(sess *transfer.Session, img wire.Image, i int, diffID string, bars *progress) (layerStats, error) {
	l := img.Layers[i]
	rc, err := sess.Layer(img, i, false)
	if err != nil {
		return layerStats{}, fmt.Errorf("fetching layer %s: %w", l.Digest, err)
	}
	defer rc.Close()
	check := newBlobReader(bars.reader(diffID, rc, l.Size), l.Digest)
	plain, err := Decompress(check, sess.Unzstd)
	if err != nil {
		return layerStats{}, fmt.Errorf("reading layer %s: %w", l.Digest, err)
	}
	defer plain.Close()
	ls, err := s.addLayer(plain, diffID, check.verify)
	if err != nil {
		return layerStats{}, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	bars.done(diffID, "done")
	return ls, nil
}

// checkManifest checks, in the CLI and not only in the transfer program,
// what the store keeps: the config is the one the manifest names (its
// digest is the image ID), and the layers fetched are the manifest's.
func checkManifest(img wire.Image) error {
	man, err := v1.ParseManifest(bytes.NewReader(img.Manifest))
	if err != nil {
		return fmt.Errorf("parsing the manifest: %w", err)
	}
	if got := digestOf(img.Config); got != man.Config.Digest.String() {
		return fmt.Errorf("the config has digest %s, not %s as its manifest says: the registry served corrupt data", got, man.Config.Digest)
	}
	if len(man.Layers) != len(img.Layers) {
		return fmt.Errorf("the manifest lists %d layers, the transfer program %d", len(man.Layers), len(img.Layers))
	}
	for i, l := range man.Layers {
		if l.Digest.String() != img.Layers[i].Digest || l.Size != img.Layers[i].Size {
			return fmt.Errorf("layer %d is %s (%d bytes) in the manifest, %s (%d bytes) from the transfer program", i+1, l.Digest, l.Size, img.Layers[i].Digest, img.Layers[i].Size)
		}
	}
	return nil
}

// notFound says the registry has no such image, or will not say: the
// next search registry may have it.
func notFound(err error) bool {
	return errors.Is(err, wire.ErrNotFound) || errors.Is(err, wire.ErrUnauthorized)
}

// insecure reports whether registry may be reached without TLS checks.
func (o PullOptions) insecure(registry string) bool {
	if !o.TLSVerify || slices.Contains(o.Insecure, registry) {
		return true
	}
	if !o.InsecureLoopback {
		return false
	}
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func registryOf(ref string) string {
	first, _, _ := strings.Cut(ref, "/")
	return first
}

// parsePlatform parses "os/arch[/variant]"; empty is this machine.
func parsePlatform(p string) (v1.Platform, error) {
	if p == "" {
		return v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}, nil
	}
	f := strings.Split(p, "/")
	if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] == "" {
		return v1.Platform{}, fmt.Errorf("invalid --platform %q: want os/arch or os/arch/variant, like linux/arm64", p)
	}
	pl := v1.Platform{OS: f[0], Architecture: f[1]}
	if len(f) == 3 {
		pl.Variant = f[2]
	}
	return pl, nil
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
