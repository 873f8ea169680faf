package api

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/sandbox-dev/sandbox/build"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
)

// imageBuild is POST /build: the body is the context as a tar (gzip
// allowed), unpacked into the store's staging area, then built by the
// build command's own code; its lines come back as Docker's JSON stream,
// the image ID as aux.
func (s *Server) imageBuild(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if v := q.Get("version"); v == "2" {
		return badRequest(errors.New("BuildKit sessions are not served: build with DOCKER_BUILDKIT=0 (the classic builder's API)"))
	}
	if q.Get("remote") != "" {
		return badRequest(errors.New("a remote context is not served: send the context"))
	}
	o := build.Options{File: q.Get("dockerfile"), Tags: q["t"], Target: q.Get("target"), NoCache: boolParam(r, "nocache"),
		Quiet: boolParam(r, "q"), Network: "host", Warn: s.Warn, BuildArgs: map[string]string{}}
	if ba := q.Get("buildargs"); ba != "" {
		var args map[string]*string
		if err := json.Unmarshal([]byte(ba), &args); err != nil {
			return badRequest(fmt.Errorf("buildargs: %w", err))
		}
		for k, v := range args {
			if v != nil {
				o.BuildArgs[k] = *v
			}
		}
	}
	switch nm := q.Get("networkmode"); nm {
	case "", "default", "host":
	case "none", "slirp":
		o.Network = nm
	case "bridge":
		o.Network = "slirp"
	default:
		return badRequest(fmt.Errorf("networkmode %q: RUN's network is host, none or bridge (slirp)", nm))
	}
	for _, t := range o.Tags {
		if _, err := config.Lookup("image").CheckString(t, ""); err != nil {
			return badRequest(fmt.Errorf("t=%q: %w", t, err))
		}
	}
	dir, release, err := s.Store.TempDir()
	if err != nil {
		return err
	}
	defer release()
	if err := untarContext(r.Body, dir); err != nil {
		return badRequest(fmt.Errorf("reading the build context: %w", err))
	}
	o.Context = dir
	if o.File != "" {
		// The API names it inside the context; the build, from here.
		o.File = path.Join(dir, path.Clean("/"+o.File))
	}
	o.Pull = s.Pull
	o.Run = container.FromApp(config.Merge(config.Defaults(), s.User.Defaults))
	container.ApplyUser(&o.Run, s.User)
	o.Run.StopTimeout = nil

	send := jsonStream(w)
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	o.Out = outW
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		br := bufio.NewReader(outR)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				send(jsonstream.Message{Stream: line})
			}
			if err != nil {
				return
			}
		}
	}()
	img, err := build.Build(s.Store, o)
	outW.Close()
	<-lines
	outR.Close()
	if err != nil {
		send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return nil
	}
	id := withSHA(img.ID)
	aux := json.RawMessage(fmt.Sprintf(`{"ID":%q}`, id))
	send(jsonstream.Message{Aux: &aux})
	if !o.Quiet {
		send(jsonstream.Message{Stream: "Successfully built " + strings.TrimPrefix(id, "sha256:")[:12] + "\n"})
	}
	return nil
}

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
