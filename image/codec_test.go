package image

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sandbox-dev/sandbox/codec/codectest"
)

// The generated codecs (codec_easyjson.go) read and write what
// encoding/json does: a failure here after a type changed means go
// generate ./image.
func TestCodecsMatchSource(t *testing.T) {
	codectest.Check(t, &index{})
	codectest.Check(t, &storeMeta{})
	digest := v1.Hash{Algorithm: "sha256", Hex: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}
	codectest.Check(t, &configDoc{}, digest)
}
