package image

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sandbox-dev/sandbox/image/reference"
)

// HostName is the built-in image made of the host's own /usr, /etc, …
const HostName = "host"

// NormalizeRef validates "name[:tag]" or "name@sha256:HEX" and adds
// ":latest" when neither tag nor digest is given. Errors say what is wrong
// with the reference.
func NormalizeRef(ref string) (string, error) {
	if name, digest, ok := strings.Cut(ref, "@"); ok {
		if !reference.ValidName(name) {
			return "", fmt.Errorf("invalid image name %q: use lowercase letters, digits and . _ - / (like debian or registry:5000/team/app)", name)
		}
		if !reference.ValidDigest(digest) {
			return "", fmt.Errorf("invalid digest %q in %q: want sha256: and 64 hex digits", digest, ref)
		}
		return ref, nil
	}
	name, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	if !reference.ValidName(name) {
		return "", fmt.Errorf("invalid image name %q: use lowercase letters, digits and . _ - / (like debian or registry:5000/team/app)", name)
	}
	if !reference.ValidTag(tag) {
		return "", fmt.Errorf("invalid tag %q in %q: use up to 128 letters, digits, _ . and -", tag, ref)
	}
	return name + ":" + tag, nil
}

// SplitRef splits a normalized "name:tag"; for "name@digest" the tag is
// "<none>".
func SplitRef(ref string) (name, tag string) {
	if name, _, ok := strings.Cut(ref, "@"); ok {
		return name, "<none>"
	}
	i := strings.LastIndex(ref, ":")
	return ref[:i], ref[i+1:]
}

// hasRegistry reports whether a reference names its registry: its first
// component looks like a host (a dot, a port, or localhost).
func hasRegistry(ref string) bool {
	first, _, ok := strings.Cut(ref, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// Candidates returns what a reference may mean, in the order to try: the
// reference itself when it names a registry, else one per search registry
// (docker.io adds library/ to one-component names, as docker does).
func Candidates(ref string, search []string) []string {
	norm, err := NormalizeRef(ref)
	if err != nil {
		return nil
	}
	if hasRegistry(norm) {
		return []string{norm}
	}
	var out []string
	for _, reg := range search {
		name := norm
		if reg == "docker.io" && !strings.Contains(strings.SplitN(strings.SplitN(norm, "@", 2)[0], ":", 2)[0], "/") {
			name = "library/" + norm
		}
		out = append(out, reg+"/"+name)
	}
	return out
}

// ShortID is the 12-hex-digit form of an ID.
func ShortID(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// resolve finds the image a reference names: a name[:tag], a full ID
// (with or without "sha256:"), or a unique prefix of an ID.
// A short name is also looked up as each search registry would qualify it.
func (idx *index) resolve(ref string, search ...string) (*Record, error) {
	if norm, err := NormalizeRef(ref); err == nil {
		for _, cand := range append([]string{norm}, Candidates(ref, search)...) {
			if id, ok := idx.Refs[cand]; ok {
				if r, ok := idx.Images[id]; ok {
					return r, nil
				}
			}
		}
	}
	h := strings.TrimPrefix(ref, "sha256:")
	if reference.IsHex(h) {
		var found []string
		for id := range idx.Images {
			if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), h) {
				found = append(found, id)
			}
		}
		switch len(found) {
		case 1:
			return idx.Images[found[0]], nil
		case 0:
		default:
			sort.Strings(found)
			for i := range found {
				found[i] = ShortID(found[i])
			}
			return nil, fmt.Errorf("%w: %q matches %s; give more digits", ErrAmbiguous, ref, strings.Join(found, ", "))
		}
	}
	return nil, fmt.Errorf("%w: %q (see `sandbox images`; make one with `sandbox import`)", ErrNotFound, ref)
}
