package calls

import (
	"errors"
	"testing"

	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// Results that do not decode are the call's error, not zero values; a
// failed call keeps its message and sentinels across the socket.
func TestResults(t *testing.T) {
	var n int
	if err := results(&wire.Msg{Data: []byte(`["seven"]`)}, nil, &n); err == nil {
		t.Error("a string decoded into an int without an error")
	}
	if err := results(&wire.Msg{Data: []byte(`[7]`)}, nil, &n); err != nil || n != 7 {
		t.Errorf("results = %d, %v; want 7, nil", n, err)
	}
	sent := Mark(ErrInvalid, containertypes.ErrNotFound)
	err := results(&wire.Msg{}, wire.Coded(ErrorCode(sent), sent), &n)
	if err == nil || err.Error() != sent.Error() || !errors.Is(err, ErrInvalid) || !errors.Is(err, containertypes.ErrNotFound) {
		t.Errorf("a failed call's error came back as %v", err)
	}
}
