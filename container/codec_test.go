package container

import (
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/codec"
	"github.com/sandbox-dev/sandbox/codec/codectest"
)

// The generated codecs (codec_easyjson.go) read and write what
// encoding/json does: a failure here after a type changed means go
// generate ./container.
func TestCodecsMatchSource(t *testing.T) {
	codectest.Check(t, &Container{})
	codectest.Check(t, &stateDoc{})
}

// A damaged record says where it stops being one, as encoding/json did,
// not a bare EOF or the lexer's own wording.
func TestCodecErrors(t *testing.T) {
	for data, want := range map[string]string{
		``:             "unexpected EOF",
		`{"id":`:       "unexpected EOF",
		`{"id":1}`:     "at byte",
		`{"id":"x"} ?`: "at byte",
	} {
		var c Container
		err := codec.Unmarshal([]byte(data), &c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", data, err, want)
		}
	}
}
