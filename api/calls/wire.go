package calls

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// A Backend call crosses the socket between the server's program and the
// CLI that holds the store (package transfer/wire) as one request: its
// Op the method's name, its Data the arguments as a JSON array in the
// method's order, with the descriptors the call passes (pipes for
// streams, the exec's stdio); the answer's Data is the results as a JSON
// array, and an error keeps its message and the sentinels it matched
// (errorCode).

// sentinels are the errors the server tells apart, by the codes they
// cross the socket as.
// The HTTP status of each (the numbers: net/http stays out of the CLI).
var sentinels = []struct {
	code   string
	err    error
	status int
}{
	{"invalid", ErrInvalid, 400},
	{"no-path", ErrNoPath, 404},
	{"no-container", containertypes.ErrNotFound, 404},
	{"name-in-use", containertypes.ErrNameInUse, 409},
	{"no-pod", containertypes.ErrNoPod, 404},
	{"running", containertypes.ErrRunning, 409},
	{"not-running", containertypes.ErrNotRunning, 409},
	{"no-network", containertypes.ErrNoNetwork, 404},
	{"network-in-use", containertypes.ErrNetworkInUse, 409},
	{"no-volume", containertypes.ErrNoVolume, 404},
	{"volume-in-use", containertypes.ErrVolumeInUse, 409},
	{"no-image", imagetypes.ErrNotFound, 404},
	{"ambiguous-image", imagetypes.ErrAmbiguous, 409},
	{"image-in-use", imagetypes.ErrInUse, 409},
}

// Status is the HTTP status of the first sentinel err matches, or 0.
func Status(err error) int {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.status
		}
	}
	return 0
}

// ErrorCode is err's code on the socket: the sentinels it matches, and an
// ExitError's exit code, comma separated.
func ErrorCode(err error) string {
	var codes []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			codes = append(codes, s.code)
		}
	}
	var e *ExitError
	if errors.As(err, &e) {
		codes = append(codes, "exit="+strconv.Itoa(e.Code))
	}
	return strings.Join(codes, ",")
}

// remoteError is an error as it crossed the socket: its message, and the
// sentinels and exit code its code names.
type remoteError struct {
	msg   string
	kinds []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.kinds }

// decodeError rebuilds a failed call's error from its answer.
func decodeError(err error) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		return err // the connection's own failure
	}
	e := &remoteError{msg: we.Msg}
	for _, code := range strings.Split(we.Code, ",") {
		if n, ok := strings.CutPrefix(code, "exit="); ok {
			c, _ := strconv.Atoi(n)
			e.kinds = append(e.kinds, &ExitError{Code: c, Err: errors.New(we.Msg)})
			continue
		}
		for _, s := range sentinels {
			if s.code == code {
				e.kinds = append(e.kinds, s.err)
			}
		}
	}
	return e
}

// Args decodes a request's arguments into ptrs, in order.
func Args(m *wire.Msg, ptrs ...any) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		return fmt.Errorf("%s: reading the arguments: %w", m.Op, err)
	}
	if len(raw) != len(ptrs) {
		return fmt.Errorf("%s: %d arguments, want %d", m.Op, len(raw), len(ptrs))
	}
	for i, p := range ptrs {
		if err := json.Unmarshal(raw[i], p); err != nil {
			return fmt.Errorf("%s: argument %d: %w", m.Op, i, err)
		}
	}
	return nil
}

// Results is an answer carrying vals, and err's code when it failed.
func Results(err error, vals ...any) (*wire.Msg, error) {
	b, merr := json.Marshal(vals)
	if merr != nil {
		return nil, merr
	}
	if err != nil {
		return &wire.Msg{Data: b}, wire.Coded(ErrorCode(err), err)
	}
	return &wire.Msg{Data: b}, nil
}

// results decodes an answer's results into ptrs; a failed call's error
// comes back as it was (decodeError), its results decoded too. Results
// that do not decode are the call's error when it had none.
func results(r *wire.Msg, callErr error, ptrs ...any) error {
	var derr error
	if r != nil && len(r.Data) > 0 && len(ptrs) > 0 {
		var raw []json.RawMessage
		derr = json.Unmarshal(r.Data, &raw)
		if derr == nil && len(raw) != len(ptrs) {
			derr = fmt.Errorf("%d results, want %d", len(raw), len(ptrs))
		}
		for i := 0; derr == nil && i < len(ptrs); i++ {
			derr = json.Unmarshal(raw[i], ptrs[i])
		}
	}
	if callErr != nil {
		return decodeError(callErr)
	}
	if derr != nil {
		return fmt.Errorf("reading the store's answer: %w", derr)
	}
	return nil
}
