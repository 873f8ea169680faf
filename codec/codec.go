// Package codec owns the entry points of the JSON codecs that easyjson
// generates for what a start reads and writes (codec_easyjson.go in
// packages container and image): Marshal, Unmarshal and Indented, on
// easyjson's lexer and writer alone. easyjson's own package has the same
// functions, but links net/http for a helper of HTTP handlers, which the
// CLI must not (api/apibin's TestCLIStaysLight), so go generate also
// takes its import out of the generated files (codec/internal/strip).
package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"
)

// Marshaler and Unmarshaler are what easyjson generates for a type.
type (
	Marshaler   interface{ MarshalEasyJSON(*jwriter.Writer) }
	Unmarshaler interface{ UnmarshalEasyJSON(*jlexer.Lexer) }
)

// Marshal encodes v.
func Marshal(v Marshaler) ([]byte, error) {
	var w jwriter.Writer
	v.MarshalEasyJSON(&w)
	return w.BuildBytes()
}

// Unmarshal decodes b into v. Keys match exactly: where encoding/json
// would also take a key in another case, this ignores it. Its errors say
// what encoding/json's said: a file that ends early, or the byte where
// it stops being what the type wants.
func Unmarshal(b []byte, v Unmarshaler) error {
	l := jlexer.Lexer{Data: b}
	v.UnmarshalEasyJSON(&l)
	err := l.Error()
	var le *jlexer.LexerError
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("not JSON: %w", io.ErrUnexpectedEOF)
	case errors.As(err, &le):
		return fmt.Errorf("not the JSON expected at byte %d: %s", le.Offset, le.Reason)
	}
	return err
}

// Indented is v encoded as the store's files are written: indented by
// two spaces, a newline at the end (map keys in no order).
func Indented(v Marshaler) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/4)
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
