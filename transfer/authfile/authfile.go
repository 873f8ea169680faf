// Package authfile reads and changes the file registry credentials live
// in, where Podman keeps them: $REGISTRY_AUTH_FILE, else
// $XDG_RUNTIME_DIR/containers/auth.json, else
// $XDG_CONFIG_HOME/containers/auth.json (~/.config by default), a
// Docker-style config file with only "auths", so that `podman login` and `sandbox login` share them.
// The CLI writes it (login, logout); the transfer program reads it, ahead
// of Docker's own configuration, whenever a registry asks who we are.
package authfile

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Path is the file credentials are stored in.
func Path() string {
	if p := os.Getenv("REGISTRY_AUTH_FILE"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "containers", "auth.json")
	}
	d := os.Getenv("XDG_CONFIG_HOME")
	if d == "" {
		home, _ := os.UserHomeDir()
		d = filepath.Join(home, ".config")
	}
	return filepath.Join(d, "containers", "auth.json")
}

// File is the part of the file we use; other keys are kept as read.
type File struct {
	Auths map[string]Entry `json:"auths"`
	rest  map[string]json.RawMessage
}

// Entry is one registry's credentials: base64 of "user:password".
type Entry struct {
	Auth string `json:"auth"`
}

// NewEntry encodes user and password.
func NewEntry(user, password string) Entry {
	return Entry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
}

// Read reads path; a missing file holds no credentials.
func Read(path string) (*File, error) {
	c := &File{Auths: map[string]Entry{}, rest: map[string]json.RawMessage{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &c.rest); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if raw, ok := c.rest["auths"]; ok {
		if err := json.Unmarshal(raw, &c.Auths); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	if c.Auths == nil {
		c.Auths = map[string]Entry{}
	}
	return c, nil
}

// Marshal is the file's new content, with the keys it did not know kept.
func (c *File) Marshal() ([]byte, error) {
	auths, err := json.Marshal(c.Auths)
	if err != nil {
		return nil, err
	}
	c.rest["auths"] = auths
	b, err := json.MarshalIndent(c.rest, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
