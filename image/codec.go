package image

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sandbox-dev/sandbox/codec"
)

//go:generate go tool easyjson -pkg -no_std_marshalers -output_filename codec_easyjson.go .
//go:generate go run ../codec/internal/strip codec_easyjson.go

// The JSON every start reads (store.json, images.json, the image's
// config) is decoded by code easyjson generated from these types
// (codec_easyjson.go, through package codec; TestCodecsMatchSource says
// when to run go generate again), not by encoding/json: its reflection
// builds per-type caches on first use, which cost each start 0.2 ms of
// its 0.7 ms in encoding/json (perf, 200 runs). Only these reads use it;
// everything else, and every write, stays encoding/json's, whose output
// sorts map keys. Keys match exactly, where encoding/json would also
// take another case: these files are written by this program, and an
// image's config by tools that follow the OCI and Docker names.

// configDoc is an image's config, v1.ConfigFile, as easyjson decodes it.
//
//easyjson:json
type configDoc v1.ConfigFile

// decodeConfig decodes an image's config.
func decodeConfig(b []byte) (*v1.ConfigFile, error) {
	var d configDoc
	if err := codec.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	return (*v1.ConfigFile)(&d), nil
}
