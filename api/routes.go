package api

import "net/http"

// routes is every endpoint served (docs/api.md lists them).
func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_ping", s.ping)
	m.HandleFunc("HEAD /_ping", s.ping)
	m.HandleFunc("GET /version", s.version)
	m.Handle("GET /info", handler(s.info))
	m.Handle("GET /events", handler(s.events))
	m.Handle("GET /system/df", handler(s.systemDF))

	m.Handle("GET /containers/json", handler(s.containerList))
	m.Handle("POST /containers/create", handler(s.containerCreate))
	m.Handle("POST /containers/prune", handler(s.containerPrune))
	m.Handle("GET /containers/{id}/json", handler(s.containerInspect))
	m.Handle("POST /containers/{id}/start", handler(s.containerStart))
	m.Handle("POST /containers/{id}/stop", handler(s.containerStop))
	m.Handle("POST /containers/{id}/restart", handler(s.containerRestart))
	m.Handle("POST /containers/{id}/kill", handler(s.containerKill))
	m.Handle("POST /containers/{id}/wait", handler(s.containerWait))
	m.Handle("POST /containers/{id}/rename", handler(s.containerRename))
	m.Handle("POST /containers/{id}/attach", handler(s.containerAttach))
	m.Handle("POST /containers/{id}/resize", handler(s.containerResize))
	m.Handle("GET /containers/{id}/logs", handler(s.containerLogs))
	m.Handle("GET /containers/{id}/stats", handler(s.containerStats))
	m.Handle("GET /containers/{id}/top", handler(s.containerTop))
	m.Handle("DELETE /containers/{id}", handler(s.containerRemove))
	m.Handle("POST /containers/{id}/exec", handler(s.execCreate))
	m.Handle("HEAD /containers/{id}/archive", handler(s.archiveHead))
	m.Handle("GET /containers/{id}/archive", handler(s.archiveGet))
	m.Handle("PUT /containers/{id}/archive", handler(s.archivePut))
	m.Handle("POST /exec/{id}/start", handler(s.execStart))
	m.Handle("POST /exec/{id}/resize", handler(s.execResize))
	m.Handle("GET /exec/{id}/json", handler(s.execInspect))

	m.Handle("GET /images/json", handler(s.imageList))
	m.Handle("POST /build", handler(s.imageBuild))
	m.Handle("POST /images/create", handler(s.imageCreate))
	m.Handle("POST /images/prune", handler(s.imagePrune))
	m.Handle("/images/{rest...}", handler(s.imageRoutes))

	m.Handle("GET /volumes", handler(s.volumeList))
	m.Handle("POST /volumes/create", handler(s.volumeCreate))
	m.Handle("POST /volumes/prune", handler(s.volumePrune))
	m.Handle("GET /volumes/{name}", handler(s.volumeInspect))
	m.Handle("DELETE /volumes/{name}", handler(s.volumeRemove))

	m.Handle("GET /networks", handler(s.networkList))
	m.Handle("POST /networks/create", handler(s.networkCreate))
	m.Handle("POST /networks/prune", handler(s.networkPrune))
	m.Handle("GET /networks/{id}", handler(s.networkInspect))
	m.Handle("DELETE /networks/{id}", handler(s.networkRemove))
	m.Handle("POST /networks/{id}/connect", handler(s.networkConnect))
	m.Handle("POST /networks/{id}/disconnect", handler(s.networkDisconnect))

	m.Handle("/", handler(func(w http.ResponseWriter, r *http.Request) error {
		return notFound(errNotServed(r))
	}))
	return m
}
