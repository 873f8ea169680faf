package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	itypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
)

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) error {
	fs, err := filters(r)
	if err != nil {
		return err
	}
	var refFilter []string
	for _, f := range fs {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "reference":
			refFilter = append(refFilter, v)
		case "dangling":
			// served below: an image without a name
		default:
			return badRequest(fmt.Errorf("invalid filter %q (served: reference, dangling)", k))
		}
	}
	rows, err := s.B.Images()
	if err != nil {
		return err
	}
	users, _ := s.B.ImageUsers()
	byID := map[string]*itypes.Summary{}
	var order []string
	for _, row := range rows {
		if row.Intermediate && !boolParam(r, "all") {
			continue
		}
		sum := byID[row.ID]
		if sum == nil {
			sum = &itypes.Summary{ID: withSHA(row.ID), Created: row.Created.Unix(), Size: row.Size,
				RepoTags: []string{}, RepoDigests: []string{}, Labels: map[string]string{}, Containers: int64(len(users[row.ID]))}
			byID[row.ID] = sum
			order = append(order, row.ID)
		}
		if row.Repository != "" && row.Repository != "<none>" {
			name := row.Repository + ":" + row.Tag
			if len(refFilter) > 0 && !matchesAny(name, refFilter) {
				continue
			}
			sum.RepoTags = append(sum.RepoTags, name)
			if row.Digest != "" {
				sum.RepoDigests = append(sum.RepoDigests, row.Repository+"@"+row.Digest)
			}
		}
	}
	out := []itypes.Summary{}
	for _, id := range order {
		sum := byID[id]
		if len(refFilter) > 0 && len(sum.RepoTags) == 0 {
			continue
		}
		out = append(out, *sum)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// matchesAny matches a name:tag against reference filters: the whole
// reference, or the repository alone, with its short form.
func matchesAny(name string, refs []string) bool {
	repo, _, _ := strings.Cut(name, ":")
	for _, ref := range refs {
		if name == ref || repo == ref || strings.HasSuffix(repo, "/"+ref) || strings.HasSuffix(name, "/"+ref) {
			return true
		}
	}
	return false
}

// imageRoutes serves /images/NAME/ACTION: names have slashes.
func (s *Server) imageRoutes(w http.ResponseWriter, r *http.Request) error {
	rest := r.PathValue("rest")
	name, action := rest, ""
	if i := strings.LastIndex(rest, "/"); i >= 0 {
		switch a := rest[i+1:]; a {
		case "json", "history", "tag", "push", "get":
			name, action = rest[:i], a
		}
	}
	switch {
	case r.Method == http.MethodGet && action == "json":
		return s.imageInspect(w, name)
	case r.Method == http.MethodGet && action == "history":
		return s.imageHistory(w, name)
	case r.Method == http.MethodPost && action == "tag":
		return s.imageTag(w, r, name)
	case r.Method == http.MethodDelete && action == "":
		return s.imageRemove(w, r, name)
	case r.Method == http.MethodPost && action == "push":
		return s.imagePush(w, r, name)
	case r.Method == http.MethodGet && action == "get" && name == "get":
		return s.imageSave(w, r.URL.Query()["names"])
	case r.Method == http.MethodGet && action == "get":
		return s.imageSave(w, []string{name})
	case r.Method == http.MethodGet && rest == "get":
		return s.imageSave(w, r.URL.Query()["names"])
	case r.Method == http.MethodPost && rest == "load":
		return s.imageLoad(w, r)
	}
	return notFound(fmt.Errorf("page not found: %s %s", r.Method, r.URL.Path))
}

func (s *Server) imageInspect(w http.ResponseWriter, name string) error {
	d, err := s.B.InspectImage(name)
	if err != nil {
		return notFoundImage(name, err)
	}
	out := itypes.InspectResponse{
		ID: withSHA(d.Id), RepoTags: orEmpty(d.RepoTags), RepoDigests: orEmpty(d.RepoDigests),
		Created: d.Created.Format(time.RFC3339Nano), Architecture: d.Architecture, Os: d.Os, Size: d.Size,
		RootFS: itypes.RootFS{Type: d.RootFS.Type, Layers: d.RootFS.Layers},
	}
	// The image config as the registry had it, in the API's own type.
	if b, err := json.Marshal(d.Config); err == nil {
		json.Unmarshal(b, &out.Config)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func notFoundImage(name string, err error) error {
	if errors.Is(err, imagetypes.ErrNotFound) {
		return notFound(fmt.Errorf("No such image: %s", name))
	}
	return err
}

func (s *Server) imageHistory(w http.ResponseWriter, name string) error {
	rows, err := s.B.History(name)
	if err != nil {
		return notFoundImage(name, err)
	}
	out := []itypes.HistoryResponseItem{}
	for _, h := range rows {
		id := h.ID
		if id != "<missing>" {
			id = withSHA(id)
		}
		out = append(out, itypes.HistoryResponseItem{ID: id, Created: h.Created.Unix(), CreatedBy: h.CreatedBy, Size: h.Size, Comment: h.Comment, Tags: []string{}})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, name string) error {
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		return badRequest(errors.New("tag needs repo"))
	}
	dst := repo
	if tag != "" {
		dst += ":" + tag
	}
	if err := s.B.Tag(name, dst); err != nil {
		return notFoundImage(name, err)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request, name string) error {
	res, err := s.B.RemoveImage(name, boolParam(r, "force"))
	if err != nil {
		return notFoundImage(name, err)
	}
	out := []itypes.DeleteResponse{}
	for _, u := range res.Untagged {
		out = append(out, itypes.DeleteResponse{Untagged: u})
	}
	for _, d := range res.Deleted {
		out = append(out, itypes.DeleteResponse{Deleted: withSHA(d)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) error {
	fs, err := filters(r)
	if err != nil {
		return err
	}
	all := false
	for _, f := range fs {
		if f == "dangling=false" || f == "dangling=0" {
			all = true
		}
	}
	res, err := s.B.PruneImages(all)
	if err != nil {
		return err
	}
	out := itypes.PruneReport{ImagesDeleted: []itypes.DeleteResponse{}, SpaceReclaimed: uint64(res.Freed)}
	for _, d := range res.Deleted {
		out.ImagesDeleted = append(out.ImagesDeleted, itypes.DeleteResponse{Deleted: withSHA(d)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// imageCreate pulls fromImage[:tag] with Docker's JSON progress stream:
// a status line, each layer's progress, the digest and the result. An
// error after the stream began is its last message, as Docker sends it.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("fromSrc") != "" {
		return badRequest(errors.New("importing through the API is not served: use `sandbox import`"))
	}
	ref := q.Get("fromImage")
	if ref == "" {
		return badRequest(errors.New("fromImage is required"))
	}
	tag := q.Get("tag")
	switch {
	case strings.HasPrefix(tag, "sha256:"):
		ref += "@" + tag
	case tag != "":
		ref += ":" + tag
	case !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") && !strings.Contains(ref, "@"):
		ref += ":latest"
	}
	send, _ := jsonStream(w)
	short := ref
	if i := strings.LastIndexAny(ref, ":@"); i > strings.LastIndex(ref, "/") {
		short = ref[i+1:]
	}
	send(jsonstream.Message{Status: "Pulling from " + strings.TrimSuffix(ref, ":"+short), ID: short})
	events := func(e imagetypes.ProgressEvent) {
		m := jsonstream.Message{ID: e.Layer, Status: e.Status}
		if e.Status == "Downloading" {
			m.Progress = &jsonstream.Progress{Current: e.Current, Total: e.Total}
		}
		send(m)
	}
	id, err := s.B.Pull(context.Background(), ref, q.Get("platform"), events)
	if err != nil {
		send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return nil
	}
	if d, err := s.B.InspectImage(id); err == nil && len(d.RepoDigests) > 0 {
		_, digest, _ := strings.Cut(d.RepoDigests[0], "@")
		send(jsonstream.Message{Status: "Digest: " + digest})
	}
	send(jsonstream.Message{Status: "Status: Downloaded newer image for " + ref})
	return nil
}

// withSHA is an image ID as the API spells it: sha256:HEX.
func withSHA(id string) string {
	if strings.HasPrefix(id, "sha256:") {
		return id
	}
	return "sha256:" + id
}

// imagePush is POST /images/NAME/push: the image goes to the registry its
// name holds, with Docker's JSON stream.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	if _, err := s.B.InspectImage(ref); err != nil {
		return notFoundImage(ref, err)
	}
	send, _ := jsonStream(w)
	send(jsonstream.Message{Status: "The push refers to repository [" + name + "]"})
	digest, err := s.B.Push(context.Background(), ref)
	if err != nil {
		send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return nil
	}
	tag := ref[strings.LastIndex(ref, ":")+1:]
	send(jsonstream.Message{Status: fmt.Sprintf("%s: digest: %s", tag, digest)})
	aux := json.RawMessage(fmt.Sprintf(`{"Tag":%q,"Digest":%q}`, tag, digest))
	send(jsonstream.Message{Aux: &aux})
	return nil
}

// imageSave is GET /images/NAME/get and GET /images/get?names=…: a
// docker-archive tar.
func (s *Server) imageSave(w http.ResponseWriter, names []string) error {
	if len(names) == 0 {
		return badRequest(errors.New("no image named"))
	}
	for _, n := range names {
		if _, err := s.B.InspectImage(n); err != nil {
			return notFoundImage(n, err)
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.B.Save(names, w); err != nil && s.Warn != nil {
		s.Warn("saving " + strings.Join(names, ", ") + ": " + err.Error())
	}
	return nil
}

// imageLoad is POST /images/load: a docker-archive or OCI tar in the body.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.B.Load(r.Body)
	if errors.Is(err, calls.ErrInvalid) {
		return badRequest(err)
	}
	if err != nil {
		return err
	}
	send, _ := jsonStream(w)
	for _, img := range imgs {
		names := img.Names
		if len(names) == 0 {
			names = []string{"ID " + withSHA(img.ID)}
		}
		for _, n := range names {
			send(jsonstream.Message{Stream: "Loaded image: " + n + "\n"})
		}
	}
	return nil
}
