package image

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// HostName is the built-in image made of the host's own /usr, /etc, …
const HostName = "host"

// The patterns compile on first use: every sandbox process, the container
// init included, would otherwise pay for them at start.
var (
	nameRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	})
	tagRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })
	hexRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-f0-9]{1,64}$`) })
)

// NormalizeRef validates "name[:tag]" and adds ":latest" when no tag is
// given. Errors say what is wrong with the reference.
func NormalizeRef(ref string) (string, error) {
	name, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	if !nameRe().MatchString(name) {
		return "", fmt.Errorf("invalid image name %q: use lowercase letters, digits and . _ - / (like debian or registry:5000/team/app)", name)
	}
	if !tagRe().MatchString(tag) {
		return "", fmt.Errorf("invalid tag %q in %q: use up to 128 letters, digits, _ . and -", tag, ref)
	}
	return name + ":" + tag, nil
}

// SplitRef splits a normalized "name:tag".
func SplitRef(ref string) (name, tag string) {
	i := strings.LastIndex(ref, ":")
	return ref[:i], ref[i+1:]
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
func (idx *index) resolve(ref string) (*Record, error) {
	if norm, err := NormalizeRef(ref); err == nil {
		if id, ok := idx.Refs[norm]; ok {
			if r, ok := idx.Images[id]; ok {
				return r, nil
			}
		}
	}
	h := strings.TrimPrefix(ref, "sha256:")
	if hexRe().MatchString(h) {
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
