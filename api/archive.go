package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/runtime"
)

// `docker cp` through the archive endpoints: the container's init answers
// each copy itself (runtime.ExecRequest.Archive), so the container must
// be running; it needs nothing in the image.

// archiveRun runs one copy request: in feeds its stdin, out takes its
// stdout; what it says on stderr becomes the error.
func (s *Server) archiveRun(id string, req runtime.ExecRequest, in io.Reader, out io.Writer) error {
	socket, err := container.ExecSocket(s.Store, id)
	if err != nil {
		if errors.Is(err, container.ErrNotRunning) {
			return conflict(fmt.Errorf("%w: copying needs a running container here", err))
		}
		return err
	}
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
	sess, err := runtime.StartExec(socket, req, files[0], files[1], files[2])
	if err != nil {
		outW.Close()
		errW.Close()
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
			return notFound(fmt.Errorf("Could not find the file %s in container %s: %s", req.Path, id, msg))
		}
		return badRequest(errors.New(msg))
	}
	return nil
}

func (s *Server) pathStat(id, path string) (runtime.PathStat, string, error) {
	var out bytes.Buffer
	if err := s.archiveRun(id, runtime.ExecRequest{Archive: "stat", Path: path}, nil, &out); err != nil {
		return runtime.PathStat{}, "", err
	}
	var st runtime.PathStat
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return st, "", err
	}
	return st, base64.StdEncoding.EncodeToString(bytes.TrimSpace(out.Bytes())), nil
}

func (s *Server) archiveHead(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.Query().Get("path")
	_, header, err := s.pathStat(r.PathValue("id"), path)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", header)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) archiveGet(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.Query().Get("path")
	id := r.PathValue("id")
	_, header, err := s.pathStat(id, path)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", header)
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.archiveRun(id, runtime.ExecRequest{Archive: "get", Path: path}, nil, w); err != nil && s.Warn != nil {
		s.Warn("copying out of " + id + ": " + err.Error())
	}
	return nil
}

func (s *Server) archivePut(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.Query().Get("path")
	req := runtime.ExecRequest{Archive: "put", Path: path, KeepOwners: boolParam(r, "copyUIDGID")}
	if err := s.archiveRun(r.PathValue("id"), req, r.Body, io.Discard); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
