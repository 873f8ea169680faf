package wire

import (
	"encoding/json"
	"errors"
	"os"
)

// Operations. The CLI asks the program for all but OpStoredLayer, which
// the program asks of the CLI while it writes an image.
const (
	// OpResolve finds Ref's image in its registry (for Platform) and
	// answers with one Image; its layers can then be fetched.
	OpResolve = "resolve"
	// OpArchive opens the images of an archive: Format DockerArchive (a
	// tar at Path) or OCILayout (a directory at Path).
	OpArchive = "archive"
	// OpLayer streams layer Index of the image Handle into the pipe the
	// request carries: as stored (compressed, the bytes its digest
	// covers) or, with Uncompressed, as a tar.
	OpLayer = "layer"
	// OpWrite writes Images to Format: Registry (pushed as Ref, answered
	// with the manifest's Digest), DockerArchive (into the descriptor the
	// request carries) or OCILayout (a new layout directory at Path).
	OpWrite = "write"
	// OpLogin checks User and Password against the registry Ref.
	OpLogin = "login"
	// OpFetch downloads the URL Ref (http or https, through the user's
	// proxies) into the pipe the request carries; the answer's Modified
	// is the server's Last-Modified, if it gave one.
	OpFetch = "fetch"
	// OpUnzstd decompresses the first descriptor the request carries
	// into the second.
	OpUnzstd = "unzstd"
	// OpStoredLayer asks the CLI for the uncompressed tar of the stored
	// layer DiffID, into the pipe the request carries.
	OpStoredLayer = "stored-layer"
)

// Formats of OpArchive and OpWrite.
const (
	Registry      = "registry"
	DockerArchive = "docker-archive"
	OCILayout     = "oci-layout"
)

// Msg is every request and every answer: an operation's fields are
// named in its constant's comment, and the rest stay empty.
type Msg struct {
	ID    int64  `json:"id"`
	Op    string `json:"op,omitempty"`
	Reply bool   `json:"reply,omitempty"`
	// Err and Code are a failed request's answer.
	Err  string `json:"err,omitempty"`
	Code string `json:"code,omitempty"`

	Ref      string `json:"ref,omitempty"`
	Platform string `json:"platform,omitempty"`
	// Insecure allows plain HTTP and unverified TLS to Ref's registry.
	Insecure     bool    `json:"insecure,omitempty"`
	Format       string  `json:"format,omitempty"`
	Path         string  `json:"path,omitempty"`
	Handle       int     `json:"handle,omitempty"`
	Index        int     `json:"index,omitempty"`
	Uncompressed bool    `json:"uncompressed,omitempty"`
	User         string  `json:"user,omitempty"`
	Password     string  `json:"password,omitempty"`
	DiffID       string  `json:"diffID,omitempty"`
	Images       []Image `json:"images,omitempty"`
	Digest       string  `json:"digest,omitempty"`
	// Modified is a time in RFC 3339 form, with nanoseconds.
	Modified string `json:"modified,omitempty"`

	// Data is the arguments or the result of a call that is not the
	// transfer program's (the Docker API server's calls to the store,
	// api/calls), as that caller encodes them.
	Data json.RawMessage `json:"data,omitempty"`
	// Files are the descriptors an answer carries (a handler's answer
	// sends and closes them; Call's caller owns those it gets).
	Files []*os.File `json:"-"`
}

// Image is an image as the program found it (OpResolve, OpArchive) or as
// the CLI hands it over to be written (OpWrite: Config, Names, DiffIDs).
type Image struct {
	// Handle names the image in OpLayer requests.
	Handle int `json:"handle,omitempty"`
	// Manifest and Config are the bytes as served: their digests are
	// the image's.
	Manifest []byte  `json:"manifest,omitempty"`
	Config   []byte  `json:"config,omitempty"`
	Layers   []Layer `json:"layers,omitempty"`
	// Names are the references an archive records for the image (its
	// RepoTags, or the name annotations of an OCI layout); for OpWrite,
	// the one name to record, if any.
	Names   []string `json:"names,omitempty"`
	DiffIDs []string `json:"diffIDs,omitempty"`
}

// Layer is one layer as the manifest lists it.
type Layer struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType,omitempty"`
}

// Codes classify a failure for the CLI, which words its own message.
const (
	// CodeNotFound: the registry has no such repository or tag (or will
	// not say, refusing the anonymous user).
	CodeNotFound = "not-found"
	// CodeUnauthorized: the registry refused the credentials, or asked
	// for some.
	CodeUnauthorized = "unauthorized"
)

// Sentinels of the codes, for errors.Is on an *Error.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("unauthorized")
)

// Error is a failed request, as its answer says.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is matches the sentinel of e's code.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeNotFound:
		return target == ErrNotFound
	case CodeUnauthorized:
		return target == ErrUnauthorized
	}
	return false
}

// Coded gives err a code: the program wraps its failures with it.
func Coded(code string, err error) error {
	return &Error{Code: code, Msg: err.Error()}
}
