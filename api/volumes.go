package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	vtypes "github.com/moby/moby/api/types/volume"

	"github.com/sandbox-dev/sandbox/container/containertypes"
)

func volumeOut(v containertypes.Volume) vtypes.Volume {
	labels := v.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return vtypes.Volume{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Scope: "local",
		CreatedAt: v.CreatedAt.Format(time.RFC3339), Labels: labels, Options: map[string]string{}}
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	fs, err := filters(r)
	if err != nil {
		return err
	}
	vols, err := s.B.Volumes()
	if err != nil {
		return err
	}
	out := vtypes.ListResponse{Volumes: []vtypes.Volume{}, Warnings: []string{}}
	for _, v := range vols {
		if !volumeMatches(v, fs) {
			continue
		}
		out.Volumes = append(out.Volumes, volumeOut(v))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// volumeMatches applies name= and label=KEY[=VALUE] filters.
func volumeMatches(v containertypes.Volume, fs []string) bool {
	for _, f := range fs {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "name":
			if !strings.Contains(v.Name, val) {
				return false
			}
		case "label":
			lk, lv, hasV := strings.Cut(val, "=")
			have, ok := v.Labels[lk]
			if !ok || (hasV && have != lv) {
				return false
			}
		}
	}
	return true
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	var req vtypes.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Driver != "" && req.Driver != "local" {
		return badRequest(errors.New("volume driver " + req.Driver + ": only local volumes (directories in the store) are served"))
	}
	if len(req.DriverOpts) > 0 {
		return badRequest(errors.New("volume driver options are not served: a volume is a directory in the store"))
	}
	v, err := s.B.CreateVolume(req.Name, req.Labels)
	if err != nil {
		return badRequest(err)
	}
	writeJSON(w, http.StatusCreated, volumeOut(v))
	return nil
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.B.InspectVolume(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, volumeOut(v))
	return nil
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.B.RemoveVolume(r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	removed, err := s.B.PruneVolumes()
	if err != nil {
		return err
	}
	if removed == nil {
		removed = []string{}
	}
	writeJSON(w, http.StatusOK, vtypes.PruneReport{VolumesDeleted: removed})
	return nil
}
