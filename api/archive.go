package api

import (
	"net/http"
)

// `docker cp` through the archive endpoints (the backend's ArchiveStat,
// ArchiveGet and ArchivePut).

func (s *Server) archiveHead(w http.ResponseWriter, r *http.Request) error {
	header, err := s.B.ArchiveStat(r.PathValue("id"), r.URL.Query().Get("path"))
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
	header, err := s.B.ArchiveStat(id, path)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", header)
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.B.ArchiveGet(id, path, w); err != nil && s.Warn != nil {
		s.Warn("copying out of " + id + ": " + err.Error())
	}
	return nil
}

func (s *Server) archivePut(w http.ResponseWriter, r *http.Request) error {
	err := s.B.ArchivePut(r.PathValue("id"), r.URL.Query().Get("path"), boolParam(r, "copyUIDGID"), r.Body)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
