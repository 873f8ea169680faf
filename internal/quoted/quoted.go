package quoted

import (
	"errors"
	"strconv"
)

// ErrMalformed says a text is not Join's.
var ErrMalformed = errors.New("not a list of quoted strings")

// Append appends fields to b in Join's form, after a space where b is
// not empty.
func Append(b []byte, fields ...string) []byte {
	for _, f := range fields {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendQuote(b, f)
	}
	return b
}

// Join is fields in the package's form.
func Join(fields ...string) string { return string(Append(nil, fields...)) }

// Split reads Join's form back.
func Split(s string) ([]string, error) {
	var out []string
	for s != "" {
		if s[0] != '"' { // strconv also reads `raw` and 'c', which Join never writes
			return nil, ErrMalformed
		}
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, ErrMalformed
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			return nil, ErrMalformed
		}
		out = append(out, v)
		s = s[len(q):]
		if s != "" {
			if s[0] != ' ' {
				return nil, ErrMalformed
			}
			s = s[1:]
			if s == "" {
				return nil, ErrMalformed
			}
		}
	}
	return out, nil
}
