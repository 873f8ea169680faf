package main

import (
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

func warn(msg string) { fmt.Fprintf(os.Stderr, "sandbox: %s\n", msg) }

// setup is what every store-using command needs: the user's config, the id
// map and the opened store.
type setup struct {
	paths config.Paths
	user  config.User
	store *image.Store
}

func openSetup() (*setup, error) {
	paths := config.DefaultPaths()
	user, err := config.Load(paths.Config)
	if err != nil {
		return nil, err
	}
	return openStore(paths, user)
}

// openStore opens (making it if needed) the store that user's config
// names.
// textRunDir is the runtime directory of the store this command opened,
// for main to start the text stage in as the command ends
// (runtime.StartTextHeal); empty when it opened none.
var textRunDir string

func openStore(paths config.Paths, user config.User) (*setup, error) {
	s := &setup{paths: paths, user: user}
	var err error
	opts := userns.Options{}
	if s.user.UserNS == "single" {
		opts.Force = userns.ModeSingle
	}
	// Every start needs the map; its answer is kept in the runtime
	// directory (idmap-*) for as long as what it was made from is
	// unchanged.
	m, err := userns.DetectCached(opts, s.paths.Runtime, runtime.Trace)
	if err != nil {
		return nil, err
	}
	root := s.paths.Data
	if s.user.StorageRoot != "" {
		root = s.user.StorageRoot
	}
	runtime.Trace("id map detected")
	if s.store, err = image.Open(root, m, warn); err != nil {
		return nil, err
	}
	s.store.Search = s.user.SearchRegistries()
	s.store.RunDir = s.paths.Runtime
	textRunDir = s.paths.Runtime
	// Said once, when the store is made (and again by the store if the map
	// later changes); `sandbox info` always shows it.
	if s.store.New && m.Mode == userns.ModeSingle && opts.Force == "" {
		warn("single-id mode (only root exists in containers): " + m.Reason())
		warn("fake root is on: inside, chown and setuid-family calls succeed without effect, so package managers work (--security-opt fakeroot=false turns it off; docs/security.md)")
	}
	return s, nil
}

// pullFlags are the flags of commands that may reach a registry.
type pullFlags struct {
	platform  string
	tlsVerify bool
}

func (f *pullFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.platform, "platform", "", "os/arch[/variant] to pull (default: this machine's)")
	fs.BoolVar(&f.tlsVerify, "tls-verify", true, "require HTTPS with a valid certificate (false also allows plain HTTP)")
}

// options are the pull options, with a progress display when stderr is a
// terminal and the user config's insecure registries.
func (f *pullFlags) options(s *setup, quiet bool) *image.PullOptions {
	o := &image.PullOptions{Platform: f.platform, TLSVerify: f.tlsVerify, Insecure: s.user.Registries.Insecure, Note: warn}
	if !quiet && term.IsTerminal(int(os.Stderr.Fd())) {
		o.Progress = os.Stderr
	}
	return o
}

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "Print the version.",
		args:    exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			fmt.Printf("sandbox version %s %s/%s %s\n", version, goruntime.GOOS, goruntime.GOARCH, goruntime.Version())
			return nil
		},
	}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// inspectEach opens the store and prints, as one JSON array, what inspect
// returns for each name; the first it cannot find ends it.
func inspectEach[T any](names []string, inspect func(*image.Store, string) (T, error)) error {
	s, err := openSetup()
	if err != nil {
		return err
	}
	var out []T
	for _, name := range names {
		v, err := inspect(s.store, name)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return printJSON(out)
}

// eachName opens the store and does op to each name in turn (rm, stop,
// start), printing the name once done; the first failure ends it.
func eachName(names []string, op func(*image.Store, string) error) error {
	s, err := openSetup()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := op(s.store, name); err != nil {
			return err
		}
		fmt.Println(name)
	}
	return nil
}

// prune opens the store, runs a prune and prints what it removed, even
// when it failed part-way.
func prune(run func(*image.Store) ([]string, error)) error {
	s, err := openSetup()
	if err != nil {
		return err
	}
	removed, err := run(s.store)
	for _, name := range removed {
		fmt.Println(name)
	}
	return err
}
