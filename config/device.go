package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Device is a parsed --device value (devices key).
type Device struct {
	Source, Target string
	ReadOnly       bool // no "w" in its permissions
}

// ParseDevice reads HOSTPATH[:CTRPATH][:PERMS], PERMS a subset of "rwm"
// (default rwm; m is accepted and means nothing: a rootless sandbox
// cannot mknod). It checks the syntax only; the node is checked when the
// container runs.
func ParseDevice(s string) (Device, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 || parts[0] == "" {
		return Device{}, errors.New("want HOSTPATH[:CONTAINERPATH][:PERMISSIONS], like /dev/fuse or /dev/dri/card0:/dev/dri/card0:rw")
	}
	d := Device{Source: parts[0], Target: parts[0]}
	perms := "rwm"
	switch len(parts) {
	case 2:
		if isPerms(parts[1]) {
			perms = parts[1]
		} else {
			d.Target = parts[1]
		}
	case 3:
		d.Target, perms = parts[1], parts[2]
		if !isPerms(perms) {
			return Device{}, fmt.Errorf("permissions %q: use r, w and m (rwm)", perms)
		}
	}
	if !filepath.IsAbs(d.Source) || !filepath.IsAbs(d.Target) {
		return Device{}, errors.New("both paths must be absolute")
	}
	d.Source, d.Target = filepath.Clean(d.Source), filepath.Clean(d.Target)
	d.ReadOnly = !strings.Contains(perms, "w")
	return d, nil
}

func isPerms(s string) bool {
	return s != "" && strings.Trim(s, "rwm") == ""
}
