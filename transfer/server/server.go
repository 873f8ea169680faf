package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/klauspost/compress/zstd"

	"github.com/sandbox-dev/sandbox/transfer/authfile"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// parallelLayers bounds the layers a push sends at once, as the CLI's
// pull bounds those it fetches.
const parallelLayers = 3

// copyBuffer is the buffer of a layer's copy into its pipe: large, so
// the CLI's side wakes once per megabyte-sized burst, not per 32 KiB.
const copyBuffer = 256 << 10

type server struct {
	peer *wire.Peer

	mu     sync.Mutex
	images map[int]v1.Image
	next   int
}

// Serve answers the CLI on f, a connected unix stream socket, until the
// CLI closes its side. It does that once every call it made has been
// answered, or when it gives a stream up (and then the request still
// under way, perhaps waiting on a stalled registry, is for no one), or
// when it was killed.
func Serve(f *os.File) {
	s := &server{images: map[int]v1.Image{}}
	s.peer = wire.NewPeer(f, s.handle)
	s.peer.Start()
	<-s.peer.Done()
}

func (s *server) handle(m *wire.Msg, files []*os.File) (*wire.Msg, error) {
	want := map[string]int{wire.OpLayer: 1, wire.OpFetch: 1, wire.OpUnzstd: 2}[m.Op]
	if m.Op == wire.OpWrite && m.Format == wire.DockerArchive {
		want = 1
	}
	if len(files) != want {
		wire.CloseFiles(files)
		return nil, fmt.Errorf("%s: %d descriptors, not %d", m.Op, len(files), want)
	}
	defer wire.CloseFiles(files)
	switch m.Op {
	case wire.OpResolve:
		return s.resolve(m)
	case wire.OpArchive:
		return s.archive(m)
	case wire.OpLayer:
		return nil, s.layer(m, files[0])
	case wire.OpWrite:
		return s.write(m, files)
	case wire.OpLogin:
		return nil, login(m)
	case wire.OpFetch:
		return fetch(m.Ref, files[0])
	case wire.OpUnzstd:
		return nil, unzstd(files[0], files[1])
	}
	return nil, fmt.Errorf("unknown request %q", m.Op)
}

func (s *server) add(img v1.Image) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.images[s.next] = img
	return s.next
}

// describe is img as the CLI needs it, under a new handle.
func (s *server) describe(img v1.Image) (wire.Image, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return wire.Image{}, fmt.Errorf("reading the manifest: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return wire.Image{}, fmt.Errorf("fetching the config: %w", err)
	}
	man, err := img.Manifest()
	if err != nil {
		return wire.Image{}, fmt.Errorf("reading the manifest: %w", err)
	}
	if man.Config.Digest.String() != digestOf(cfg) {
		// The image ID is the config's digest: a registry that serves
		// another config than its manifest names is corrupt.
		return wire.Image{}, fmt.Errorf("the config has digest %s, not %s as its manifest says: the source served corrupt data", digestOf(cfg), man.Config.Digest)
	}
	out := wire.Image{Manifest: manifest, Config: cfg}
	for _, l := range man.Layers {
		out.Layers = append(out.Layers, wire.Layer{Digest: l.Digest.String(), Size: l.Size, MediaType: string(l.MediaType)})
	}
	out.Handle = s.add(img)
	return out, nil
}

func (s *server) resolve(m *wire.Msg) (*wire.Msg, error) {
	r, err := name.ParseReference(m.Ref, nameOptions(m.Insecure)...)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", m.Ref, err)
	}
	plat, err := v1.ParsePlatform(m.Platform)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", m.Platform, err)
	}
	opts := append(remoteOptions(m.Insecure), remote.WithPlatform(*plat))
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, classify(fmt.Errorf("fetching the manifest of %s: %w", m.Ref, err), r.Context().RegistryStr())
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("choosing the %s image in %s: %w", m.Platform, m.Ref, err)
	}
	d, err := s.describe(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Ref, err)
	}
	return &wire.Msg{Images: []wire.Image{d}}, nil
}

// layer copies one layer into out. A compressed layer from a registry
// is checked against its digest as it ends (by go-containerregistry); the
// CLI checks it again, and checks the tar against the diff ID.
func (s *server) layer(m *wire.Msg, out *os.File) error {
	s.mu.Lock()
	img := s.images[m.Handle]
	s.mu.Unlock()
	if img == nil {
		return fmt.Errorf("no image %d", m.Handle)
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if m.Index < 0 || m.Index >= len(layers) {
		return fmt.Errorf("the image has %d layers, not %d", len(layers), m.Index+1)
	}
	l := layers[m.Index]
	var rc io.ReadCloser
	if m.Uncompressed {
		rc, err = l.Uncompressed()
	} else {
		rc, err = l.Compressed()
	}
	if err != nil {
		d, _ := l.Digest()
		return fmt.Errorf("fetching layer %s: %w", d, err)
	}
	defer rc.Close()
	if _, err := io.CopyBuffer(out, rc, make([]byte, copyBuffer)); err != nil {
		d, _ := l.Digest()
		return fmt.Errorf("layer %s: %w", d, err)
	}
	return nil
}

func nameOptions(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// keychain is what pull and push authenticate with: our (Podman's)
// file, then Docker's configuration and helpers.
var keychain = authn.NewMultiKeychain(fileKeychain{}, authn.DefaultKeychain)

// fileKeychain resolves credentials from authfile.Path.
type fileKeychain struct{}

func (fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	c, err := authfile.Read(authfile.Path())
	if err != nil {
		return nil, err
	}
	e, ok := c.Auths[r.RegistryStr()]
	if !ok {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Auth: e.Auth}), nil
}

func baseTransport(insecure bool) *http.Transport {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return t
}

func remoteOptions(insecure bool) []remote.Option {
	return []remote.Option{
		remote.WithContext(context.Background()),
		remote.WithAuthFromKeychain(keychain),
		remote.WithJobs(parallelLayers),
		remote.WithTransport(baseTransport(insecure)),
	}
}

// classify codes a registry's refusal: 401 and 403 ask for credentials
// (said with how to give them), and an unknown name or tag is not found,
// so the CLI tries its next search registry.
func classify(err error, registry string) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return wire.Coded(wire.CodeUnauthorized, fmt.Errorf("%w (to log in: sandbox login %s)", err, registry))
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNAUTHORIZED") || strings.Contains(msg, "DENIED"):
		return wire.Coded(wire.CodeUnauthorized, err)
	case strings.Contains(msg, "MANIFEST_UNKNOWN") || strings.Contains(msg, "NAME_UNKNOWN") || strings.Contains(msg, "404"):
		return wire.Coded(wire.CodeNotFound, err)
	}
	return err
}

// login asks the registry's /v2/ with the credentials: the transport
// answers its challenge (basic, or a token fetched with them). A refusal
// is CodeUnauthorized.
func login(m *wire.Msg) error {
	reg, err := name.NewRegistry(m.Ref, nameOptions(m.Insecure)...)
	if err != nil {
		return fmt.Errorf("%q is not a registry (want HOST[:PORT]): %w", m.Ref, err)
	}
	ctx := context.Background()
	auth := authn.FromConfig(authn.AuthConfig{Username: m.User, Password: m.Password})
	refused := wire.Coded(wire.CodeUnauthorized, fmt.Errorf("logging in to %s", reg.RegistryStr()))
	tr, err := transport.NewWithContext(ctx, reg, auth, baseTransport(m.Insecure), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized {
			return refused
		}
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return refused
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("logging in to %s: GET /v2/ answered %s", reg.RegistryStr(), resp.Status)
	}
	return nil
}

// fetchTimeout bounds a download (a build's ADD of a URL).
const fetchTimeout = 10 * time.Minute

// fetch downloads url into out, and answers with its Last-Modified.
func fetch(url string, out *os.File) (*wire.Msg, error) {
	client := &http.Client{Timeout: fetchTimeout}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the server answered %s", resp.Status)
	}
	if _, err := io.CopyBuffer(out, resp.Body, make([]byte, copyBuffer)); err != nil {
		return nil, err
	}
	r := &wire.Msg{}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		r.Modified = lm.Format(time.RFC3339Nano)
	}
	return r, nil
}

func unzstd(in, out *os.File) error {
	dec, err := zstd.NewReader(in)
	if err != nil {
		return fmt.Errorf("starting zstd decoder: %w", err)
	}
	defer dec.Close()
	if _, err := io.CopyBuffer(out, dec, make([]byte, copyBuffer)); err != nil {
		return fmt.Errorf("decompressing zstd: %w", err)
	}
	return nil
}
