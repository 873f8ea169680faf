// Command sandbox-kube is the part of sandbox that links the Kubernetes
// API types (package kube says why it is a program of its own). The CLI
// runs it from its embedded copy (kube/kubebin); it is not meant to be
// run by hand.
//
//	sandbox-kube generate --type pod|deployment|job  < pod.json  > pod.yaml
//	sandbox-kube play  < file.yaml  > plan.json
//	sandbox-kube cdi  < request.json  > answer.json
//
// generate reads one kube.Pod as JSON and writes the Kubernetes object as
// YAML; what the object cannot say is written to stderr, one line each,
// prefixed "note: ". play reads Pods, Deployments, Jobs and ConfigMaps and
// writes a kube.Plan as JSON. cdi resolves Container Device Interface
// names (package cdi). Bad input exits 125 with the reason on stderr.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sandbox-dev/sandbox/cdi"
	"github.com/sandbox-dev/sandbox/kube"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: sandbox-kube generate --type KIND")
	}
	switch os.Args[1] {
	case "generate":
		kind := "pod"
		args := os.Args[2:]
		for len(args) > 0 {
			switch {
			case args[0] == "--type" && len(args) > 1:
				kind, args = args[1], args[2:]
			case strings.HasPrefix(args[0], "--type="):
				kind, args = strings.TrimPrefix(args[0], "--type="), args[1:]
			default:
				fail("generate: unknown argument %q", args[0])
			}
		}
		if !slices.Contains(kube.Kinds, kind) {
			fail("generate: --type %q: valid types are %s", kind, strings.Join(kube.Kinds, ", "))
		}
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			fail("generate: reading the pod: %v", err)
		}
		var p kube.Pod
		if err := json.Unmarshal(in, &p); err != nil {
			fail("generate: decoding the pod: %v", err)
		}
		out, notes, err := generate(p, kind)
		if err != nil {
			fail("generate: %v", err)
		}
		for _, n := range notes {
			fmt.Fprintln(os.Stderr, "note: "+n)
		}
		os.Stdout.Write(out)
	case "cdi":
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			fail("cdi: reading the request: %v", err)
		}
		var req cdi.Request
		if err := json.Unmarshal(in, &req); err != nil {
			fail("cdi: decoding the request: %v", err)
		}
		ans, err := resolveCDI(req)
		if err != nil {
			fail("%v", err)
		}
		b, _ := json.Marshal(ans)
		os.Stdout.Write(b)
	case "play":
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			fail("play: reading the YAML: %v", err)
		}
		plan, err := play(in)
		if err != nil {
			fail("%v", err)
		}
		b, _ := json.Marshal(plan)
		os.Stdout.Write(b)
	default:
		fail("unknown command %q", os.Args[1])
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sandbox-kube: "+format+"\n", args...)
	os.Exit(125)
}
