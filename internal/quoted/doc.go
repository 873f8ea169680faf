// Package quoted owns one small text form for a list of strings: each
// Go-quoted (strconv.Quote), separated by one space. Any string fits,
// the result holds no NUL and no newline (a program's argument, a line
// of a file), and reading it back needs no reflection: what a start's
// own records use where encoding/json's first use of a type would cost
// it a tenth of a millisecond.
//
// The package imports only strconv and errors: the init program links it.
package quoted
