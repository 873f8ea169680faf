package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/sandbox-dev/sandbox/api/calls"
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
	o := calls.BuildOptions{File: q.Get("dockerfile"), Tags: q["t"], Target: q.Get("target"), NoCache: boolParam(r, "nocache"),
		Quiet: boolParam(r, "q"), Network: "host", BuildArgs: map[string]string{}}
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

	send, started := jsonStream(w)
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
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
	imageID, err := s.B.Build(o, r.Body, outW)
	outW.Close()
	<-lines
	outR.Close()
	if err != nil && !started() && errors.Is(err, calls.ErrInvalid) {
		return badRequest(err) // the context: nothing was built
	}
	if err != nil {
		send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return nil
	}
	id := withSHA(imageID)
	aux := json.RawMessage(fmt.Sprintf(`{"ID":%q}`, id))
	send(jsonstream.Message{Aux: &aux})
	if !o.Quiet {
		send(jsonstream.Message{Stream: "Successfully built " + strings.TrimPrefix(id, "sha256:")[:12] + "\n"})
	}
	return nil
}
