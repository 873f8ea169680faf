package image

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/sandbox-dev/sandbox/transfer"
	"github.com/sandbox-dev/sandbox/transfer/authfile"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// Credentials live where Podman keeps them (package transfer/authfile);
// pull and push read that file first, then Docker's config.

// ErrNotLoggedIn is a logout from a registry with no stored credentials.
var ErrNotLoggedIn = errors.New("not logged in")

// ErrLoginRefused is a registry that refused the credentials.
var ErrLoginRefused = errors.New("the registry refused the user name or password")

// defaultRegistry is where a name without a registry lives, and the key
// its credentials are stored under (as go-containerregistry, Docker and
// Podman spell it).
const defaultRegistry = "index.docker.io"

// registryKey checks that registry is HOST[:PORT] and returns the name
// its credentials are stored under.
func registryKey(registry string) (string, error) {
	if u, err := url.Parse("//" + registry); err != nil || u.Host != registry || registry == "" {
		return "", fmt.Errorf("%q is not a registry (want HOST[:PORT])", registry)
	}
	if registry == "docker.io" {
		return defaultRegistry, nil
	}
	return registry, nil
}

// Login checks user and password against registry (a host[:port]) and
// stores them. Refused credentials are ErrLoginRefused, and nothing is
// stored. runDir is where the transfer program is installed.
func Login(ctx context.Context, runDir, registry, user, password string, o PullOptions) error {
	key, err := registryKey(registry)
	if err != nil {
		return err
	}
	sess, err := transfer.Start(ctx, runDir, nil)
	if err != nil {
		return err
	}
	err = sess.Login(key, user, password, o.insecure(key))
	sess.Close()
	if errors.Is(err, wire.ErrUnauthorized) {
		return fmt.Errorf("%v: %w", err, ErrLoginRefused)
	}
	if err != nil {
		return err
	}
	path := authfile.Path()
	c, err := authfile.Read(path)
	if err != nil {
		return err
	}
	c.Auths[key] = authfile.NewEntry(user, password)
	return writeAuth(c, path)
}

func writeAuth(c *authfile.File, path string) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return WriteFileAtomic(path, b, 0o600)
}

// Logout forgets the credentials of registry, or with all of every one.
func Logout(registry string, all bool) error {
	path := authfile.Path()
	c, err := authfile.Read(path)
	if err != nil {
		return err
	}
	if all {
		c.Auths = map[string]authfile.Entry{}
		return writeAuth(c, path)
	}
	key, err := registryKey(registry)
	if err != nil {
		return err
	}
	if _, ok := c.Auths[key]; !ok {
		return fmt.Errorf("%w to %s (credentials are in %s)", ErrNotLoggedIn, key, path)
	}
	delete(c.Auths, key)
	return writeAuth(c, path)
}
