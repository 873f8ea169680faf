// Command sandbox runs rootless containers: images are read-only layer
// stacks, containers add a private writable layer, and everything runs in
// user namespaces without a daemon or root. This file is the command table
// and flag wiring only; each command calls one library entry point.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/sysmon"
	"github.com/sandbox-dev/sandbox/teardown"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// command is one entry of the command table.
type command struct {
	name    string
	usage   string // after "sandbox NAME "
	summary string
	// flags adds the command's flags; run gets the remaining arguments.
	flags func(fs *pflag.FlagSet)
	run   func(fs *pflag.FlagSet, args []string) error
	// interspersed lets flags follow arguments; off for commands whose
	// arguments after the image are the payload's own.
	interspersed bool
	// args, when set, is how many arguments run may be given; a count
	// outside it is a usage error saying what the command needs.
	args *argRange
	// long marks a command that moves or builds images, for seconds: it
	// lets go of the code pages its start mapped (runtime.DropProgramPages), so
	// that its memory is what it goes on to use. Not the starts, whose
	// speed those mappings make.
	long bool
}

// argRange is how many arguments a command takes (max < 0: no limit),
// and the words a wrong count gets ("needs one IMAGE").
type argRange struct {
	min, max int
	want     string
}

func exactly(n int, want string) *argRange    { return &argRange{n, n, want} }
func atLeast(n int, want string) *argRange    { return &argRange{n, -1, want} }
func between(a, b int, want string) *argRange { return &argRange{a, b, want} }

// check is the usage error for a wrong count, naming the command as it
// was called (path: "sandbox system check").
func (r *argRange) check(c *command, path string, args []string) error {
	if len(args) >= r.min && (r.max < 0 || len(args) <= r.max) {
		return nil
	}
	return &usageError{c, fmt.Errorf("%s %s", strings.TrimPrefix(path, "sandbox "), r.want)}
}

var commands []*command

// nounOnly are the commands that exist only under a noun ("system df",
// "image prune"), by their full name.
var nounOnly = map[string]*command{}

// nouns are Podman's noun forms: each subcommand is a command of the
// table under another name, or ("") one of nounOnly.
var nouns = []struct {
	name, summary string
	subs          [][2]string // name, table command ("" for prune)
}{
	{"container", "Manage containers (Podman's and Docker's noun forms).", [][2]string{
		{"ls", "ps"}, {"list", "ps"}, {"ps", "ps"}, {"rm", "rm"}, {"inspect", ""}, {"create", "create"},
		{"run", "run"}, {"start", "start"}, {"stop", "stop"}, {"kill", "kill"}, {"restart", "restart"},
		{"wait", "wait"}, {"logs", "logs"}, {"exec", "exec"}, {"rename", "rename"}, {"port", "port"},
		{"stats", "stats"}, {"commit", "commit"}, {"prune", ""},
	}},
	{"image", "Manage images (Podman's and Docker's noun forms).", [][2]string{
		{"ls", "images"}, {"list", "images"}, {"rm", "rmi"}, {"inspect", ""}, {"pull", "pull"},
		{"push", "push"}, {"tag", "tag"}, {"history", "history"}, {"save", "save"}, {"load", "load"},
		{"import", "import"}, {"prune", ""},
	}},
	{"system", "Manage the store: disk use, checks and repair, reset.", [][2]string{
		{"df", ""}, {"check", ""}, {"reset", ""}, {"info", "info"}, {"service", ""},
	}},
	{"pod", "Pods: containers that share a network, its ports, IPC and a hostname.", [][2]string{
		{"create", ""}, {"ps", ""}, {"rm", ""}, {"start", ""}, {"stop", ""}, {"inspect", ""},
	}},
	{"volume", "Named volumes: data that outlives the containers that mount it.", [][2]string{
		{"create", ""}, {"ls", ""}, {"inspect", ""}, {"rm", ""}, {"prune", ""},
	}},
	{"network", "Networks: containers on one reach each other by name.", [][2]string{
		{"create", ""}, {"ls", ""}, {"inspect", ""}, {"rm", ""}, {"prune", ""}, {"connect", ""}, {"disconnect", ""},
	}},
	{"healthcheck", "Health checks: run a container's now.", [][2]string{{"run", ""}}},
	{"kube", "Kubernetes YAML from containers and launch files.", [][2]string{
		{"generate", ""}, {"play", ""}, {"down", ""},
	}},
}

func init() {
	for _, c := range []*command{containerPruneCommand(), imagePruneCommand(), containerInspectCommand(), imageInspectCommand(), systemDfCommand(), systemCheckCommand(), systemResetCommand(), kubeGenerateCommand(), kubePlayCommand(), kubeDownCommand(),
		podCreateCommand(), podPsCommand(), podRmCommand(), podStartCommand(), podStopCommand(), podInspectCommand(),
		volumeCreateCommand(), volumeLsCommand(), volumeInspectCommand(), volumeRmCommand(), volumePruneCommand(),
		networkCreateCommand(), networkLsCommand(), networkInspectCommand(), networkRmCommand(), networkPruneCommand(), networkConnectCommand(), networkDisconnectCommand(), healthcheckRunCommand(), systemServiceCommand()} {
		nounOnly[c.name] = c
	}
	commands = []*command{
		runCommand(),
		shellCommand(),
		upCommand(),
		downCommand(),
		createCommand(),
		startCommand(),
		stopCommand(),
		killCommand(),
		waitCommand(),
		restartCommand(),
		rmCommand(),
		psCommand(),
		statsCommand(),
		logsCommand(),
		execCommand(),
		renameCommand(),
		portCommand(),
		pullCommand(),
		pushCommand(),
		loginCommand(),
		logoutCommand(),
		importCommand(),
		loadCommand(),
		saveCommand(),
		imagesCommand(),
		inspectCommand(),
		historyCommand(),
		tagCommand(),
		rmiCommand(),
		commitCommand(),
		buildCommand(),
		infoCommand(),
		versionCommand(),
	}
}

func main() {
	// First: the threads the runtime started from the entry point have
	// its timer slack, which is for the monitor thread alone (package
	// sysmon).
	sysmon.Settle()
	// The same binary is the container's init: it must take that path
	// before anything else runs.
	if runtime.IsInit() {
		runtime.Main()
	}
	if container.IsMonitor() {
		container.MonitorMain()
	}
	runtime.Trace("main")
	// Whatever the user's shell leaked to us stays out of what we start
	// (a network helper, a monitor): children get only what is passed
	// explicitly. Kernels before 5.11 lack the flag; then nothing changes.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	code := profiled(func() int { return dispatch(os.Args[1:]) })
	sysmon.Done()
	// After the command, not before: the stage works once this process,
	// which holds the pages it must drop, has exited, and a command that
	// lasts (a shell) would keep it waiting.
	runtime.StartTextHeal(textRunDir)
	runtime.StartSpare()
	// Our standard streams end here, with our last write: the holder
	// below starts with a copy of our descriptors, which it closes only
	// once it runs, and a reader of a pipe we write to (`sandbox run …
	// | cat`, a harness) waits for every copy's end. EOF then came up to
	// 0.15 ms after our exit (the 90th percentile; milliseconds at worst).
	unix.CloseRange(0, 2, 0)
	// The kernel's unmapping of our memory then comes after the shell
	// has our status, not before (package teardown). Without a holder
	// the exit is as it always was.
	teardown.Defer()
	os.Exit(code)
}

// usageError is a command-line mistake: it prints the usage line too.
type usageError struct {
	cmd *command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }

func dispatch(args []string) int {
	if len(args) == 0 {
		printMainHelp(os.Stdout)
		return 125
	}
	if args[0] == "--version" || args[0] == "-v" {
		args[0] = "version"
	}
	root := rootCommand(args)
	root.SetArgs(args)
	_, err := root.ExecuteC()
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		// cobra's sentence, with its "did you mean" when one is close.
		fmt.Fprintf(os.Stderr, "sandbox: %s\nRun 'sandbox --help' for the list of commands.\n", strings.TrimSpace(err.Error()))
		return 125
	}
	return fail(err)
}

// rootCommand is the command tree, on cobra, made from the command table:
// each entry a subcommand with its flags, usage line and help, and the
// nouns' subcommands made from the same entries. cobra adds `help`,
// `completion bash|zsh|fish` and "did you mean".
//
// Only the command args run gets its flags (and their completions):
// defining every command's flags costs half a millisecond a start.
func rootCommand(args []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "sandbox",
		Short:         "rootless containers, no daemon, no root.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	// Which table entry each cobra command runs, for its help and usage.
	of := map[*cobra.Command]*command{}
	build := func(c *command, use string) *cobra.Command {
		cc := &cobra.Command{
			Use:   use,
			Short: c.summary,
			Args:  cobra.ArbitraryArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				if c.args != nil {
					if err := c.args.check(c, cmd.CommandPath(), args); err != nil {
						return err
					}
				}
				if c.long {
					runtime.DropProgramPages()
				}
				return c.run(cmd.Flags(), args)
			},
		}
		of[cc] = c
		return cc
	}
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		switch c := of[cmd]; {
		case c != nil:
			printHelp(os.Stdout, cmd.CommandPath(), c)
		case cmd != root:
			// cobra's own commands and the nouns keep cobra's help.
			fmt.Fprint(os.Stdout, cmd.UsageString())
		default:
			printMainHelp(os.Stdout)
		}
	})
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if c := of[cmd]; c != nil {
			return &usageError{c, err}
		}
		return err
	})
	// Only the command args names, when it names one: making all ninety
	// commands cost every start about 20 page faults more.
	// Help, completion and a misspelling ("did you mean") get them all.
	only := ""
	if len(args) > 0 && (lookup(args[0]) != nil || isNoun(args[0])) {
		only = args[0]
	}
	if only != "" {
		// cobra's completion command (four shells' help, formatted) is
		// reached only when no command of ours is named: 40 µs a start.
		root.CompletionOptions.DisableDefaultCmd = true
	}
	for _, c := range commands {
		if only == "" || c.name == only {
			root.AddCommand(build(c, c.name))
		}
	}
	for _, n := range nouns {
		if only != "" && n.name != only {
			continue
		}
		noun := &cobra.Command{Use: n.name, Short: n.summary, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				var names []string
				for _, sub := range cmd.Commands() {
					names = append(names, sub.Name())
				}
				return fmt.Errorf("%s needs a subcommand: %s (sandbox %s --help)", cmd.Name(), strings.Join(names, ", "), cmd.Name())
			}}
		for _, sub := range n.subs {
			c := lookup(sub[1])
			if sub[1] == "" {
				c = nounOnly[n.name+" "+sub[0]]
			}
			noun.AddCommand(build(c, sub[0]))
		}
		root.AddCommand(noun)
	}
	// The command to run: for a completion request, the one completed.
	find := args
	if len(find) > 0 && (find[0] == cobra.ShellCompRequestCmd || find[0] == cobra.ShellCompNoDescRequestCmd) {
		find = find[1:]
	}
	if target, _, err := root.Find(find); err == nil {
		if c := of[target]; c != nil {
			if c.flags != nil {
				c.flags(target.Flags())
			}
			target.Flags().SetInterspersed(c.interspersed)
			addCompletions(target, c)
		}
	}
	return root
}

// exitCode is returned by commands that end with the payload's status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// fail prints err the one way sandbox prints errors and picks the exit
// code: the payload's own, or 125/126/127 for sandbox's failures.
func fail(err error) int {
	if err == nil || errors.Is(err, errDryRun) {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "Usage: sandbox %s %s\nRun 'sandbox %s --help' for more.\n", ue.cmd.name, ue.cmd.usage, ue.cmd.name)
		return 125
	}
	return runtime.ExitCode(err)
}

func isNoun(name string) bool {
	for _, n := range nouns {
		if n.name == name {
			return true
		}
	}
	return false
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nounOnly[name]
}

func printMainHelp(w *os.File) {
	fmt.Fprintf(w, "sandbox: rootless containers, no daemon, no root.\n\nUsage: sandbox COMMAND [FLAGS] [ARGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nGroups (sandbox GROUP --help):\n")
	for _, n := range nouns {
		fmt.Fprintf(w, "  %-9s %s\n", n.name, n.summary)
	}
	fmt.Fprintf(w, "\nRun 'sandbox COMMAND --help' for a command's flags.\n")
}

func printHelp(w *os.File, path string, c *command) {
	fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", path, c.usage, c.summary)
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.BoolP("help", "h", false, "show this help")
	if c.flags != nil {
		c.flags(fs)
	}
	fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
}

// profiled runs fn under the CPU profiler when SANDBOX_CPUPROFILE names a
// file (for `go tool pprof`), the way to see where a slow command spends.
func profiled(fn func() int) int {
	path := os.Getenv("SANDBOX_CPUPROFILE")
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: SANDBOX_CPUPROFILE: %v\n", err)
		return fn()
	}
	defer f.Close()
	pprof.StartCPUProfile(f)
	defer pprof.StopCPUProfile()
	return fn()
}
