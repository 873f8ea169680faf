package container

import "github.com/sandbox-dev/sandbox/codec"

//go:generate go tool easyjson -pkg -no_std_marshalers -output_filename codec_easyjson.go .
//go:generate go run ../codec/internal/strip codec_easyjson.go

// What every start writes and most commands read, a container's record
// (Container) and its state (stateDoc), is encoded and decoded by code
// easyjson generated from these types (codec_easyjson.go, through package codec;
// TestCodecsMatchSource says when to run go generate again), not by
// encoding/json: its reflection builds per-type caches on first use,
// which cost each start 0.35 ms (perf, 200 runs), the largest single
// part of a start's own work. Elsewhere, and for every other type, the
// encoding is encoding/json's. Keys are read as written, exactly.

// stateDoc is state.json (State), as easyjson encodes it.
//
//easyjson:json
type stateDoc State

// recordJSON is c's record as it is written.
func recordJSON(c *Container) []byte {
	b, err := codec.Indented(c)
	if err != nil {
		panic(err) // no type in it can fail to encode
	}
	return b
}
