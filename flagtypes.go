package main

import (
	"encoding/csv"
	"strings"

	"github.com/spf13/pflag"
)

// stringArray is a repeatable string flag, as pflag's string array is
// (each use adds one value, commas and all, and pflag's GetStringArray
// reads it), whose String costs nothing while it holds no value: pflag
// formats every flag's default as it defines the flag, and its own array
// does that through encoding/csv, 0.05 ms of run's start for its empty
// arrays.
type stringArray struct{ vals *[]string }

// stringArrayVarP defines a stringArray flag storing its values in p. Its
// default reads "" as help's test for a default not worth printing
// knows only pflag's own types by name ("[]" would print).
func stringArrayVarP(fs *pflag.FlagSet, p *[]string, name, short, usage string) {
	*p = nil
	fs.VarPF(&stringArray{vals: p}, name, short, usage).DefValue = ""
}

// Set adds a value: the default is always none.
func (a *stringArray) Set(v string) error {
	*a.vals = append(*a.vals, v)
	return nil
}

// Type is pflag's own array's: help and GetStringArray treat it as one.
func (a *stringArray) Type() string { return "stringArray" }

// String is what pflag's array prints: its values as one CSV record in
// brackets, which GetStringArray parses back.
func (a *stringArray) String() string {
	if len(*a.vals) == 0 {
		return "[]"
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(*a.vals)
	w.Flush()
	return "[" + strings.TrimSuffix(b.String(), "\n") + "]"
}

// GetSlice is what cobra's completion asks of a flag that takes many
// values (its SliceValue), and what keyFlag reads.
func (a *stringArray) GetSlice() []string { return append([]string(nil), *a.vals...) }
