package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/sandbox-dev/sandbox/image"
)

func loginCommand() *command {
	var f pullFlags
	var user, password string
	var passwordStdin bool
	return &command{
		name:    "login",
		usage:   "[-u USER] [-p PASSWORD | --password-stdin] [--tls-verify=false] REGISTRY",
		summary: "Check a user name and password with a registry and keep them for pull and push (in Podman's auth.json).",
		flags: func(fs *pflag.FlagSet) {
			f.add(fs)
			fs.StringVarP(&user, "username", "u", "", "the user name (default: asked)")
			fs.StringVarP(&password, "password", "p", "", "the password (visible to other processes: prefer --password-stdin)")
			fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
		},
		interspersed: true,
		args:         exactly(1, "needs one REGISTRY (HOST[:PORT])"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if passwordStdin && password != "" {
				return &usageError{lookup("login"), errors.New("--password and --password-stdin: give one")}
			}
			in := bufio.NewReader(os.Stdin)
			if passwordStdin {
				b, err := io.ReadAll(in)
				if err != nil {
					return fmt.Errorf("reading the password from standard input: %w", err)
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			if user == "" {
				if !isTerminal(os.Stdin) || passwordStdin {
					return &usageError{lookup("login"), errors.New("no user name: give -u USER (standard input is not a terminal to ask on)")}
				}
				fmt.Fprint(os.Stderr, "Username: ")
				line, err := in.ReadString('\n')
				if err != nil {
					return fmt.Errorf("reading the user name: %w", err)
				}
				user = strings.TrimSpace(line)
			}
			if password == "" && !passwordStdin {
				if !isTerminal(os.Stdin) {
					return &usageError{lookup("login"), errors.New("no password: give --password-stdin (standard input is not a terminal to ask on)")}
				}
				fmt.Fprint(os.Stderr, "Password: ")
				b, err := term.ReadPassword(int(os.Stdin.Fd()))
				fmt.Fprintln(os.Stderr)
				if err != nil {
					return fmt.Errorf("reading the password: %w", err)
				}
				password = string(b)
			}
			if user == "" || password == "" {
				return &usageError{lookup("login"), errors.New("an empty user name or password")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			if err := image.Login(context.Background(), s.store.RunDir, args[0], user, password, *f.options(s, true)); err != nil {
				return err
			}
			fmt.Println("Login Succeeded!")
			return nil
		},
	}
}

func logoutCommand() *command {
	var all bool
	return &command{
		name:    "logout",
		usage:   "[-a] REGISTRY",
		summary: "Forget the credentials kept for a registry (-a: for every one).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&all, "all", "a", false, "forget every registry's credentials")
		},
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if (len(args) != 1 && !all) || (all && len(args) != 0) {
				return &usageError{lookup("logout"), errors.New("logout needs one REGISTRY, or -a")}
			}
			reg := ""
			if !all {
				reg = args[0]
			}
			if err := image.Logout(reg, all); err != nil {
				return err
			}
			if all {
				fmt.Println("Removed login credentials for all registries")
			} else {
				fmt.Printf("Removed login credentials for %s\n", reg)
			}
			return nil
		},
	}
}
