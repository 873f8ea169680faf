package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// A stringArray reads back through pflag's GetStringArray as pflag's own
// array would, commas, quotes and all, and help prints no default for it.
func TestStringArray(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var got []string
	stringArrayVarP(fs, &got, "env", "e", "")
	if u := fs.FlagUsages(); strings.Contains(u, "default") {
		t.Errorf("help prints a default: %s", u)
	}
	want := []string{`A=1,2`, `B="x y"`, ``, `C`}
	if err := fs.Parse([]string{"-e", want[0], "--env", want[1], "--env=" + want[2], "-e", want[3]}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("values %q, want %q", got, want)
	}
	back, err := fs.GetStringArray("env")
	if err != nil || !slices.Equal(back, want) {
		t.Errorf("GetStringArray = %q, %v; want %q", back, err, want)
	}
	if v, ok := fs.Lookup("env").Value.(interface{ GetSlice() []string }); !ok || !slices.Equal(v.GetSlice(), want) {
		t.Errorf("not a slice value (cobra's SliceValue) with the values")
	}
}
