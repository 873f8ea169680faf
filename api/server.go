package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/api/calls"
)

// The API versions served (package calls, which the CLI reads them from
// too).
const (
	Version    = calls.Version
	MinVersion = calls.MinVersion
)

// Server serves the API over one store, which it reaches through B.
type Server struct {
	B calls.Backend
	// Idle ends Serve after that long with no request in flight (0:
	// never).
	Idle time.Duration
	// SandboxVersion is sandbox's own, for /version.
	SandboxVersion string
	// Warn says one line to whoever runs the service.
	Warn func(string)

	execs sync.Map // exec ID → *execSession

	// attaches are the attach streams open per container and when the
	// last of them ended: the die event waits for them (attachDrained).
	attachMu sync.Mutex
	attaches map[string]*attachCount

	mu       sync.Mutex
	inflight int
	last     time.Time
}

// Serve answers requests on l until the idle time passes (or forever).
func (s *Server) Serve(l net.Listener) error {
	s.last = time.Now()
	srv := &http.Server{Handler: s.wrap(s.routes()), ReadHeaderTimeout: 30 * time.Second}
	done := make(chan struct{})
	defer close(done)
	if s.Idle > 0 {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
				}
				s.mu.Lock()
				idle := s.inflight == 0 && time.Since(s.last) >= s.Idle
				s.mu.Unlock()
				if idle {
					srv.Close()
					return
				}
			}
		}()
	}
	err := srv.Serve(ownerOnly{l})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ownerOnly accepts connections from the user who runs the service only;
// any other uid gets a 403 and the connection closed.
type ownerOnly struct{ net.Listener }

func (o ownerOnly) Accept() (net.Conn, error) {
	for {
		c, err := o.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		raw, err := uc.SyscallConn()
		var cred *unix.Ucred
		if err == nil {
			raw.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
		}
		if err != nil || int(cred.Uid) != os.Getuid() {
			msg := `{"message":"this sandbox service serves only the user who runs it"}`
			fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(msg), msg)
			c.Close()
			continue
		}
		return c, nil
	}
}

// versionPrefix is compiled on the service's first request, not at every
// start of the CLI, which links this package.
var versionPrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`) })

// wrap counts requests in flight (for the idle exit), strips the version
// prefix, refuses versions out of range, and sets the headers every
// answer has.
func (s *Server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.inflight++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inflight--
			s.last = time.Now()
			s.mu.Unlock()
		}()
		w.Header().Set("Api-Version", Version)
		w.Header().Set("Server", "sandbox/"+s.SandboxVersion)
		w.Header().Set("Ostype", "linux")
		w.Header().Set("Docker-Experimental", "false")
		if m := versionPrefix().FindStringSubmatch(r.URL.Path); m != nil {
			if versionLess(Version, m[1]) {
				writeError(w, badRequest(fmt.Errorf("client version %s is too new. Maximum supported API version is %s", m[1], Version)))
				return
			}
			if versionLess(m[1], MinVersion) {
				writeError(w, badRequest(fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", m[1], MinVersion)))
				return
			}
			r.URL.Path = m[2]
			r.URL.RawPath = ""
		}
		h.ServeHTTP(w, r)
	})
}

// versionLess compares "1.41"-style versions.
func versionLess(a, b string) bool {
	am, an, _ := strings.Cut(a, ".")
	bm, bn, _ := strings.Cut(b, ".")
	x, _ := strconv.Atoi(am)
	y, _ := strconv.Atoi(bm)
	if x != y {
		return x < y
	}
	x, _ = strconv.Atoi(an)
	y, _ = strconv.Atoi(bn)
	return x < y
}

// httpError is an error with the status it answers with.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func badRequest(err error) error { return &httpError{http.StatusBadRequest, err} }
func notFound(err error) error   { return &httpError{http.StatusNotFound, err} }
func conflict(err error) error   { return &httpError{http.StatusConflict, err} }

// status is the HTTP status an error answers with: the store's sentinels
// say which.
func status(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	if s := calls.Status(err); s != 0 {
		return s
	}
	return http.StatusInternalServerError
}

// writeError answers with the API's error body.
func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status(err))
	json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// handler adapts a handler that may fail.
func handler(f func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			writeError(w, err)
		}
	}
}

// boolParam reads a query flag as Docker's clients send it: 1, true.
func boolParam(r *http.Request, name string) bool {
	v := strings.ToLower(r.URL.Query().Get(name))
	return v == "1" || v == "true" || v == "yes"
}

// decodeBody reads a JSON body into v; an empty body leaves v as it is.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return badRequest(fmt.Errorf("reading the request body: %w", err))
	}
	return nil
}

func errNotServed(r *http.Request) error {
	return fmt.Errorf("%s %s is not served by sandbox (docs/api.md lists what is)", r.Method, r.URL.Path)
}

// randomID is a new 64-hex ID (an exec's).
func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// jsonStream makes a 200 answer of Docker's JSON messages (pull, push,
// build, load) and returns the function that sends each one at once (the
// first also sends the status), and one that says whether any was sent;
// both may be called from several goroutines.
func jsonStream(w http.ResponseWriter) (send func(jsonstream.Message), started func() bool) {
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	begun := false
	send = func(m jsonstream.Message) {
		mu.Lock()
		defer mu.Unlock()
		if !begun {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			begun = true
		}
		json.NewEncoder(w).Encode(m)
		if flusher != nil {
			flusher.Flush()
		}
	}
	started = func() bool {
		mu.Lock()
		defer mu.Unlock()
		return begun
	}
	return send, started
}

type attachCount struct {
	open  int
	ended time.Time
}

// attachBegin and attachEnd bracket one attach stream of container id.
func (s *Server) attachBegin(id string) {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	if s.attaches == nil {
		s.attaches = map[string]*attachCount{}
	}
	a := s.attaches[id]
	if a == nil {
		a = &attachCount{}
		s.attaches[id] = a
	}
	a.open++
}

func (s *Server) attachEnd(id string) {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	now := time.Now()
	if a := s.attaches[id]; a != nil {
		a.open--
		a.ended = now
	}
	// Entries whose grace is over say nothing attachDrained would not
	// say without them: forget them, events stream or not.
	for k, a := range s.attaches {
		if a.open == 0 && now.Sub(a.ended) >= dieGrace {
			delete(s.attaches, k)
		}
	}
}

// dieGrace is how long after its last attach stream ended a container's
// die event waits. Docker sends die only once the output is drained, and
// docker-compose 1.29's attached `up` relies on that: when it sees die it
// stops waiting for the container, and unless the line "exited with code
// N" (which it gets by calling wait once the stream ends) is already
// queued, it drops it. The grace covers that one wait call.
const dieGrace = 150 * time.Millisecond

// attachDrained says whether container id's die event may go: no attach
// stream is open and the last one ended at least dieGrace before now.
func (s *Server) attachDrained(id string, now time.Time) bool {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	a := s.attaches[id]
	if a == nil {
		return true
	}
	if a.open > 0 || now.Sub(a.ended) < dieGrace {
		return false
	}
	delete(s.attaches, id)
	return true
}
