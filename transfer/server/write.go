package server

import (
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// write writes the images the CLI hands over, each layer asked of the CLI
// (OpStoredLayer) as it is needed and compressed here.
func (s *server) write(m *wire.Msg, files []*os.File) (*wire.Msg, error) {
	var imgs []v1.Image
	for _, wi := range m.Images {
		img, err := partial.UncompressedToImage(&storedImage{s: s, cfg: wi.Config})
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	switch m.Format {
	case wire.Registry:
		if len(imgs) != 1 {
			return nil, fmt.Errorf("a push sends one image, not %d", len(imgs))
		}
		r, err := name.ParseReference(m.Ref, nameOptions(m.Insecure)...)
		if err != nil {
			return nil, fmt.Errorf("parsing %q: %w", m.Ref, err)
		}
		if err := remote.Write(r, imgs[0], remoteOptions(m.Insecure)...); err != nil {
			return nil, classify(fmt.Errorf("pushing to %s: %w", m.Ref, err), r.Context().RegistryStr())
		}
		d, err := imgs[0].Digest()
		if err != nil {
			return nil, err
		}
		return &wire.Msg{Digest: d.String()}, nil
	case wire.DockerArchive:
		refs := map[name.Reference]v1.Image{}
		for i, wi := range m.Images {
			var ref name.Reference
			var err error
			if len(wi.Names) > 0 {
				ref, err = name.ParseReference(wi.Names[0])
			} else {
				// No name: docker-archive then records the image without
				// RepoTags, as `docker save ID` does.
				ref, err = name.NewDigest("unnamed@" + digestOf(wi.Config))
			}
			if err != nil {
				return nil, fmt.Errorf("naming %v in the archive: %w", wi.Names, err)
			}
			refs[ref] = imgs[i]
		}
		if err := tarball.MultiRefWrite(refs, files[0]); err != nil {
			return nil, fmt.Errorf("writing the docker archive: %w", err)
		}
		return nil, nil
	case wire.OCILayout:
		lp, err := layout.Write(m.Path, empty.Index)
		if err != nil {
			return nil, fmt.Errorf("writing an OCI layout: %w", err)
		}
		for i, wi := range m.Images {
			var opts []layout.Option
			if len(wi.Names) > 0 {
				opts = append(opts, layout.WithAnnotations(map[string]string{annotationImageName: wi.Names[0], annotationRefName: wi.Names[0]}))
			}
			if err := lp.AppendImage(imgs[i], opts...); err != nil {
				return nil, fmt.Errorf("writing %s to the OCI layout: %w", digestOf(wi.Config), err)
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown destination format %q", m.Format)
}

// storedImage implements partial.UncompressedImageCore: the config as
// stored (so the image ID is kept) and layers the CLI rebuilds from disk.
type storedImage struct {
	s   *server
	cfg []byte
}

func (si *storedImage) RawConfigFile() ([]byte, error) { return si.cfg, nil }

// Docker schema 2, the manifest go-containerregistry builds for
// uncompressed images: its layers must say the same.
func (si *storedImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (si *storedImage) LayerByDiffID(h v1.Hash) (partial.UncompressedLayer, error) {
	return &storedLayer{s: si.s, diffID: h}, nil
}

// storedLayer implements partial.UncompressedLayer.
type storedLayer struct {
	s      *server
	diffID v1.Hash
}

func (l *storedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

func (l *storedLayer) Uncompressed() (io.ReadCloser, error) {
	st, err := l.s.peer.Stream(&wire.Msg{Op: wire.OpStoredLayer, DiffID: l.diffID.String()})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (l *storedLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
