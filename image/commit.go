package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/transfer"
)

// CommitOptions describe the image Commit makes.
type CommitOptions struct {
	// Ref names the new image ("" leaves it unnamed).
	Ref string
	// Changes are Dockerfile-like instructions applied to the config:
	// "CMD …", "ENTRYPOINT …", "ENV K=V", "WORKDIR …", "USER …",
	// "LABEL K=V", "EXPOSE …" (also written "CMD=…").
	Changes   []string
	Author    string
	Message   string
	CreatedBy string
	// Squash makes the new layer the image's only one: the tar holds a
	// whole root filesystem (a vfs container's), not a diff.
	Squash bool
}

// Commit makes a new image from base plus one layer read from layerTar
// (an uncompressed tar in OCI form, whiteouts included), and names it.
func (s *Store) Commit(base *Image, layerTar io.Reader, o CommitOptions) (*Image, error) {
	ref := ""
	if o.Ref != "" {
		var err error
		if ref, err = NormalizeRef(o.Ref); err != nil {
			return nil, err
		}
	}
	cfg := base.Config.DeepCopy()
	if base.Host {
		return nil, fmt.Errorf("a container of the host image cannot be committed: its files are this machine's own")
	}
	s.SweepTemp()
	for _, c := range o.Changes {
		if err := applyChange(&cfg.Config, c); err != nil {
			return nil, err
		}
	}
	release, err := s.gcLock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer release()
	ls, err := s.addLayer(layerTar, "", nil)
	if err != nil {
		return nil, fmt.Errorf("storing the container's layer: %w", err)
	}
	var layers []layerStats
	if o.Squash {
		cfg.RootFS.DiffIDs = nil
		cfg.History = nil
	} else {
		for _, d := range base.Config.RootFS.DiffIDs {
			bl, ok := s.layerStats(d.String())
			if !ok {
				return nil, fmt.Errorf("layer %s of the base image is gone from the store", ShortID(d.String()))
			}
			layers = append(layers, bl)
		}
	}
	layers = append(layers, ls)
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, mustHash(ls.DiffID))
	now := time.Now().UTC()
	cfg.Created = v1.Time{Time: now}
	if o.Author != "" {
		cfg.Author = o.Author
	}
	cfg.History = append(cfg.History, v1.History{Created: v1.Time{Time: now}, CreatedBy: o.CreatedBy, Author: o.Author, Comment: o.Message})
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var refs []string
	if ref != "" {
		refs = []string{ref}
	}
	return s.addImage(cfgJSON, now, layers, refs)
}

// applyChange applies one --change instruction to a config.
func applyChange(c *v1.Config, change string) error {
	// "CMD sh" (Dockerfile style) and "CMD=sh" both name the instruction
	// first: it ends at the first space or "=".
	change = strings.TrimSpace(change)
	i := strings.IndexAny(change, " =")
	if i < 0 {
		return fmt.Errorf("--change %q: want INSTRUCTION VALUE, like CMD sh or ENV A=1", change)
	}
	instr, value := change[:i], strings.TrimSpace(change[i+1:])
	switch strings.ToUpper(instr) {
	case "CMD":
		c.Cmd = commandForm(value)
	case "ENTRYPOINT":
		c.Entrypoint = commandForm(value)
	case "ENV":
		k, v, ok := strings.Cut(value, "=")
		if !ok {
			k, v, ok = strings.Cut(value, " ")
		}
		if !ok || k == "" {
			return fmt.Errorf("--change %q: want ENV KEY=VALUE", change)
		}
		set := false
		for i, e := range c.Env {
			if strings.HasPrefix(e, k+"=") {
				c.Env[i], set = k+"="+v, true
			}
		}
		if !set {
			c.Env = append(c.Env, k+"="+v)
		}
	case "WORKDIR":
		c.WorkingDir = value
	case "USER":
		c.User = value
	case "LABEL":
		k, v, ok := strings.Cut(value, "=")
		if !ok || k == "" {
			return fmt.Errorf("--change %q: want LABEL KEY=VALUE", change)
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = strings.Trim(v, `"`)
	case "EXPOSE":
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(value) {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	default:
		return fmt.Errorf("--change %q: unsupported instruction %q (use CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL or EXPOSE)", change, instr)
	}
	return nil
}

// commandForm takes a JSON array as it is and anything else as a shell
// command, as a Dockerfile does.
func commandForm(v string) []string {
	var args []string
	if strings.HasPrefix(v, "[") && json.Unmarshal([]byte(v), &args) == nil {
		return args
	}
	return []string{"/bin/sh", "-c", v}
}

// Push sends an image to a registry under dest (default: the reference it
// was named by, which must then name a registry), and returns the manifest
// digest. Blobs the registry already holds are not sent again. Layers are
// rebuilt from disk exactly, so the image ID is unchanged.
func (s *Store) Push(ctx context.Context, ref, dest string, o PullOptions) (string, error) {
	img, err := s.Resolve(ref)
	if err != nil {
		return "", err
	}
	if dest == "" {
		dest = s.nameFor(img, ref)
		if dest == "" {
			return "", fmt.Errorf("image %s has no name: give a destination, like sandbox push %s REGISTRY/NAME:TAG", ShortID(img.ID), ref)
		}
	}
	cands := Candidates(dest, s.searchList())
	if len(cands) == 0 {
		_, err := NormalizeRef(dest)
		return "", err
	}
	dest = cands[0]
	wi, err := s.wireImage(img, "")
	if err != nil {
		return "", err
	}
	sess, err := transfer.Start(ctx, s.RunDir, s.OpenLayer)
	if err != nil {
		return "", err
	}
	defer sess.Close()
	digest, err := sess.Push(dest, o.insecure(registryOf(dest)), wi)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ShortID(img.ID), err)
	}
	return digest, nil
}
