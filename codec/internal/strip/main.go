// Command strip takes easyjson's own package out of a file easyjson
// generated (its import and the line that uses it): the generated code
// needs only its lexer and writer, and that package links net/http
// (package codec says why that matters). go generate runs it after
// easyjson: go run ../codec/internal/strip FILE.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: strip FILE")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var out []string
	dropped := 0
	for _, l := range strings.SplitAfter(string(b), "\n") {
		switch strings.TrimSpace(l) {
		case `easyjson "github.com/mailru/easyjson"`, "_ easyjson.Marshaler":
			dropped++
			continue
		}
		out = append(out, l)
	}
	if dropped != 2 {
		fmt.Fprintf(os.Stderr, "strip: %s: found %d of the 2 lines it removes: easyjson's output changed\n", os.Args[1], dropped)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], []byte(strings.Join(out, "")), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
