package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/runtime"
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
	var errs []string
	for _, cand := range cands {
		img, err := s.pullOne(ctx, cand, plat, o)
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

func (s *Store) pullOne(ctx context.Context, ref string, plat v1.Platform, o PullOptions) (*Image, error) {
	r, err := name.ParseReference(ref, nameOptions(ref, o)...)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", ref, err)
	}
	opts := remoteOptions(ctx, ref, plat, o)
	runtime.Trace("pull: fetching the manifest of %s", ref)
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, loginHint(fmt.Errorf("fetching the manifest of %s: %w", ref, err), r.Context().RegistryStr())
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("choosing the %s image in %s: %w", platformString(plat), ref, err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", ref, err)
	}
	cfgJSON, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("fetching the config of %s: %w", ref, err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	// The registry hands us the config by digest: check it, since the
	// image ID is that digest.
	if got := digestOf(cfgJSON); got != cfgName.String() {
		return nil, fmt.Errorf("the config of %s has digest %s, not %s as its manifest says: the registry served corrupt data", ref, got, cfgName)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("parsing the config of %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing the layers of %s: %w", ref, err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s has %d layers but its config lists %d diff IDs", ref, len(layers), len(cfg.RootFS.DiffIDs))
	}
	man, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", ref, err)
	}
	sizes := make([]int64, len(layers))
	for i := range layers {
		if i < len(man.Layers) {
			sizes[i] = man.Layers[i].Size
		}
	}
	runtime.Trace("pull: manifest and config fetched")
	stats, err := s.fetchLayers(ref, layers, sizes, cfg.RootFS.DiffIDs, o)
	if err != nil {
		return nil, err
	}
	runtime.Trace("pull: layers stored")
	refs := []string{ref}
	rec, err := s.addImageWithManifest(cfgJSON, cfg.Created.Time, stats, refs, manifest)
	runtime.Trace("pull: image recorded")
	return rec, err
}

// fetchLayers fetches and unpacks the layers the store lacks, a few at a
// time, and returns every layer's stats in order.
func (s *Store) fetchLayers(ref string, layers []v1.Layer, sizes []int64, diffIDs []v1.Hash, o PullOptions) ([]layerStats, error) {
	stats := make([]layerStats, len(layers))
	bars := newProgress(o.Progress, o.Events)
	defer bars.stop()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		slots = make(chan struct{}, parallelLayers)
	)
	for i, l := range layers {
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
			ls, err := s.fetchLayer(l, sizes[i], want, bars)
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
func (s *Store) fetchLayer(l v1.Layer, size int64, diffID string, bars *progress) (layerStats, error) {
	digest, err := l.Digest()
	if err != nil {
		return layerStats{}, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return layerStats{}, fmt.Errorf("fetching layer %s: %w", digest, err)
	}
	defer rc.Close()
	// go-containerregistry checks the bytes against the digest we asked
	// for as the blob ends: a mismatch fails the layer and nothing of it
	// enters the store.
	check := &blobReader{r: bars.reader(diffID, rc, size), digest: digest.String()}
	plain, err := Decompress(check)
	if err != nil {
		return layerStats{}, fmt.Errorf("reading layer %s: %w", digest, err)
	}
	defer plain.Close()
	ls, err := s.addLayer(plain, diffID, check.verify)
	if err != nil {
		return layerStats{}, fmt.Errorf("layer %s: %w", digest, err)
	}
	bars.done(diffID, "done")
	return ls, nil
}

func notFound(err error) bool {
	var te interface{ Error() string }
	if errors.As(err, &te) {
		msg := err.Error()
		return strings.Contains(msg, "MANIFEST_UNKNOWN") || strings.Contains(msg, "NAME_UNKNOWN") ||
			strings.Contains(msg, "404") || strings.Contains(msg, "UNAUTHORIZED") || strings.Contains(msg, "DENIED")
	}
	return false
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

// nameOptions allow plain HTTP to registries the user marked insecure.
func nameOptions(ref string, o PullOptions) []name.Option {
	if o.insecure(registryOf(ref)) {
		return []name.Option{name.Insecure}
	}
	return nil
}

func registryOf(ref string) string {
	first, _, _ := strings.Cut(ref, "/")
	return first
}

func remoteOptions(ctx context.Context, ref string, plat v1.Platform, o PullOptions) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithPlatform(plat),
		remote.WithJobs(parallelLayers),
	}
	if o.insecure(registryOf(ref)) {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		opts = append(opts, remote.WithTransport(t))
	}
	return opts
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
