package image

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Registry credentials live where Podman keeps them: $REGISTRY_AUTH_FILE,
// else $XDG_RUNTIME_DIR/containers/auth.json (a Docker-style config file
// with only "auths"), so that `podman login` and `sandbox login` share
// them. Pull and push read that file first, then Docker's config.

// ErrNotLoggedIn is a logout from a registry with no stored credentials.
var ErrNotLoggedIn = errors.New("not logged in")

// ErrLoginRefused is a registry that refused the credentials.
var ErrLoginRefused = errors.New("the registry refused the user name or password")

// AuthFile is the file credentials are stored in.
func AuthFile() string {
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

// authConfig is the part of the file we use; other keys are kept as read.
type authConfig struct {
	Auths map[string]authEntry `json:"auths"`
	rest  map[string]json.RawMessage
}

type authEntry struct {
	Auth string `json:"auth"`
}

func readAuth(path string) (*authConfig, error) {
	c := &authConfig{Auths: map[string]authEntry{}, rest: map[string]json.RawMessage{}}
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
		c.Auths = map[string]authEntry{}
	}
	return c, nil
}

func (c *authConfig) write(path string) error {
	auths, err := json.Marshal(c.Auths)
	if err != nil {
		return err
	}
	c.rest["auths"] = auths
	b, err := json.MarshalIndent(c.rest, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// Login checks user and password against registry (a host[:port]) and
// stores them. Refused credentials are ErrLoginRefused, and nothing is
// stored.
func Login(ctx context.Context, registry, user, password string, o PullOptions) error {
	reg, err := registryName(registry, o)
	if err != nil {
		return err
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	if err := checkLogin(ctx, reg, auth, o); err != nil {
		return err
	}
	path := AuthFile()
	c, err := readAuth(path)
	if err != nil {
		return err
	}
	c.Auths[reg.RegistryStr()] = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	return c.write(path)
}

// checkLogin asks the registry's /v2/ with the credentials: the
// transport answers its challenge (basic, or a token fetched with them).
func checkLogin(ctx context.Context, reg name.Registry, auth authn.Authenticator, o PullOptions) error {
	base := remote.DefaultTransport.(*http.Transport).Clone()
	if o.insecure(reg.RegistryStr()) {
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	tr, err := transport.NewWithContext(ctx, reg, auth, base, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), ErrLoginRefused)
		}
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), ErrLoginRefused)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("logging in to %s: GET /v2/ answered %s", reg.RegistryStr(), resp.Status)
	}
	return nil
}

// Logout forgets the credentials of registry, or with all of every one.
func Logout(registry string, all bool) error {
	path := AuthFile()
	c, err := readAuth(path)
	if err != nil {
		return err
	}
	if all {
		c.Auths = map[string]authEntry{}
		return c.write(path)
	}
	reg, err := name.NewRegistry(registry)
	if err != nil {
		return fmt.Errorf("%q is not a registry: %w", registry, err)
	}
	if _, ok := c.Auths[reg.RegistryStr()]; !ok {
		return fmt.Errorf("%w to %s (credentials are in %s)", ErrNotLoggedIn, reg.RegistryStr(), path)
	}
	delete(c.Auths, reg.RegistryStr())
	return c.write(path)
}

func registryName(registry string, o PullOptions) (name.Registry, error) {
	var opts []name.Option
	if o.insecure(registry) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, opts...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("%q is not a registry (want HOST[:PORT]): %w", registry, err)
	}
	return reg, nil
}

// fileKeychain resolves credentials from AuthFile.
type fileKeychain struct{}

func (fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	c, err := readAuth(AuthFile())
	if err != nil {
		return nil, err
	}
	e, ok := c.Auths[r.RegistryStr()]
	if !ok {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Auth: e.Auth}), nil
}

// keychain is what pull and push authenticate with: our (Podman's) file,
// then Docker's configuration and helpers.
var keychain = authn.NewMultiKeychain(fileKeychain{}, authn.DefaultKeychain)

// loginHint adds to a registry's refusal (401, 403) how to log in.
func loginHint(err error, registry string) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%w (to log in: sandbox login %s)", err, registry)
	}
	return err
}
