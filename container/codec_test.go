package container

import (
	"testing"

	"github.com/sandbox-dev/sandbox/codec/codectest"
)

// The generated codecs (codec_easyjson.go) read and write what
// encoding/json does: a failure here after a type changed means go
// generate ./container.
func TestCodecsMatchSource(t *testing.T) {
	codectest.Check(t, &Container{}, func() codectest.Codec { return &Container{} })
	codectest.Check(t, &stateDoc{}, func() codectest.Codec { return &stateDoc{} })
}
