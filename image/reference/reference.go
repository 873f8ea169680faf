package reference

import "strings"

// MaxTag is the longest tag.
const MaxTag = 128

// Valid reports whether s is NAME[:TAG][@sha256:HEX]; a bare ID (hex
// digits) is a valid name.
func Valid(s string) bool {
	if name, digest, ok := strings.Cut(s, "@"); ok {
		if !ValidDigest(digest) {
			return false
		}
		s = name
	}
	if ValidName(s) {
		return true
	}
	name, tag, ok := splitTag(s)
	return ok && ValidName(name) && ValidTag(tag)
}

// splitTag splits NAME:TAG at the last colon after the last slash.
func splitTag(s string) (name, tag string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i < strings.LastIndexByte(s, '/') {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// ValidName reports whether s is a repository name, with its registry
// host (and port) when it has one.
func ValidName(s string) bool {
	first, rest, more := strings.Cut(s, "/")
	if host, port, ok := strings.Cut(first, ":"); ok {
		if port == "" || !all(port, isDigit) {
			return false
		}
		first = host
	}
	if !validComponent(first) {
		return false
	}
	for more {
		var c string
		c, rest, more = strings.Cut(rest, "/")
		if !validComponent(c) {
			return false
		}
	}
	return true
}

// validComponent: runs of [a-z0-9] joined by one separator each: ".",
// "_", "__", or one or more "-".
func validComponent(c string) bool {
	if c == "" || !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isAlnum(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !isAlnum(c[j]) {
			j++
		}
		if sep := c[i:j]; sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
			return false
		}
		i = j
	}
	return true
}

// ValidTag reports whether s is a tag: up to MaxTag letters, digits, "_",
// "." and "-", not starting with "." or "-".
func ValidTag(s string) bool {
	if s == "" || len(s) > MaxTag || s[0] == '.' || s[0] == '-' {
		return false
	}
	return all(s, func(b byte) bool {
		return isDigit(b) || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' || b == '.' || b == '-'
	})
}

// ValidDigest reports whether s is "sha256:" and 64 lowercase hex digits.
func ValidDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	return ok && len(h) == 64 && IsHex(h)
}

// IsHex reports whether s is 1 to 64 lowercase hex digits: an image ID or
// a prefix of one.
func IsHex(s string) bool {
	return s != "" && len(s) <= 64 && all(s, func(b byte) bool { return isDigit(b) || 'a' <= b && b <= 'f' })
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
func isAlnum(b byte) bool { return isDigit(b) || 'a' <= b && b <= 'z' }

func all(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
