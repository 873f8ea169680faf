package backend

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/runtime"
)

// `docker cp` through the archive endpoints: the container's init answers
// each copy itself (runtime.ExecRequest.Archive), so the container must
// be running; it needs nothing in the image.

func (b *Backend) ArchiveStat(id, path string) (string, error) {
	var out bytes.Buffer
	if err := b.archiveRun(id, runtime.ExecRequest{Archive: "stat", Path: path}, nil, &out); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(bytes.TrimSpace(out.Bytes())), nil
}

func (b *Backend) ArchiveGet(id, path string, w io.Writer) error {
	// The init sends entries; they become tar here.
	pr, pw := io.Pipe()
	converted := make(chan error, 1)
	go func() { converted <- entriesToTar(pr, w); io.Copy(io.Discard, pr) }()
	err := b.archiveRun(id, runtime.ExecRequest{Archive: "get", Path: path}, nil, pw)
	pw.CloseWithError(err)
	if cerr := <-converted; err == nil {
		err = cerr
	}
	return err
}

func (b *Backend) ArchivePut(id, path string, keepOwners bool, r io.Reader) error {
	req := runtime.ExecRequest{Archive: "put", Path: path, KeepOwners: keepOwners}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarToEntries(r, pw)) }()
	err := b.archiveRun(id, req, pr, io.Discard)
	pr.Close()
	return err
}

// archiveRun runs one copy request: in feeds its stdin, out takes its
// stdout; what it says on stderr becomes the error.
func (b *Backend) archiveRun(id string, req runtime.ExecRequest, in io.Reader, out io.Writer) error {
	files := make([]*os.File, 3)
	var ours []*os.File
	defer func() {
		for _, f := range ours {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		r, w, err := os.Pipe()
		if err == nil {
			ours = append(ours, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return err
	}
	outR, outW, err := pipe()
	if err != nil {
		return err
	}
	errR, errW, err := pipe()
	if err != nil {
		return err
	}
	files[0], files[1], files[2] = inR, outW, errW
	go func() {
		if in != nil {
			io.Copy(inW, in)
		}
		inW.Close()
	}()
	var stderr bytes.Buffer
	copied := make(chan struct{}, 2)
	go func() { io.Copy(out, outR); copied <- struct{}{} }()
	go func() { io.Copy(&stderr, io.LimitReader(errR, 8192)); io.Copy(io.Discard, errR); copied <- struct{}{} }()
	sess, err := b.exec(id, req, files[0], files[1], files[2])
	if err != nil {
		outW.Close()
		errW.Close()
		if errors.Is(err, container.ErrNotRunning) {
			return fmt.Errorf("%w: copying needs a running container here", err)
		}
		return err
	}
	code, err := sess.Wait()
	sess.Close()
	outW.Close()
	errW.Close()
	<-copied
	<-copied
	if err != nil {
		return err
	}
	if code != 0 {
		msg := strings.TrimSpace(stderr.String())
		if code == 2 {
			return calls.Mark(calls.ErrNoPath, fmt.Errorf("Could not find the file %s in container %s: %s", req.Path, id, msg))
		}
		return calls.Mark(calls.ErrInvalid, errors.New(msg))
	}
	return nil
}

// entriesToTar writes the init's copy stream as a tar.
func entriesToTar(r io.Reader, w io.Writer) error {
	ar := runtime.NewArchiveReader(r)
	tw := tar.NewWriter(w)
	for {
		e, err := ar.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		h := &tar.Header{Name: e.Name, Mode: int64(e.Mode), Uid: e.UID, Gid: e.GID, ModTime: e.Mtime, Format: tar.FormatPAX}
		switch e.Type {
		case "dir":
			h.Typeflag, h.Name = tar.TypeDir, strings.TrimSuffix(e.Name, "/")+"/"
		case "file":
			h.Typeflag, h.Size = tar.TypeReg, e.Size
		case "symlink":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
		default:
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, ar.Content); err != nil {
			return err
		}
	}
}

// tarToEntries writes a client's tar as the init's copy stream.
func tarToEntries(r io.Reader, w io.Writer) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return calls.Mark(calls.ErrInvalid, fmt.Errorf("reading the archive: %w", err))
		}
		e := runtime.ArchiveEntry{Name: strings.TrimSuffix(h.Name, "/"), Mode: uint32(h.Mode & 0o7777), UID: h.Uid, GID: h.Gid, Mtime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeDir:
			e.Type = "dir"
		case tar.TypeReg:
			e.Type, e.Size = "file", h.Size
		case tar.TypeSymlink:
			e.Type, e.Link = "symlink", h.Linkname
		default:
			continue // hard links, devices: not copied
		}
		if err := runtime.WriteArchiveEntry(w, e, tr); err != nil {
			return err
		}
	}
}
