package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("plain"), 125},
		{&Error{Code: 127, Msg: "not found"}, 127},
		{fmt.Errorf("wrapped: %w", &Error{Code: 126, Msg: "cannot execute"}), 126},
		{&Error{Msg: "no code"}, 125},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	e := &Error{Code: 125, Msg: "opening x: file does not exist", Err: fs.ErrNotExist}
	if !errors.Is(e, fs.ErrNotExist) {
		t.Error("an Error hides its cause from errors.Is")
	}
}
