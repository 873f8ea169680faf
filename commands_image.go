package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/format"
	"github.com/sandbox-dev/sandbox/image"
)

func imagesCommand() *command {
	var quiet, all, digests bool
	var spec string
	return &command{
		name:    "images",
		usage:   "[FLAGS] [REPOSITORY[:TAG]]",
		summary: "List images.",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&quiet, "quiet", "q", false, "print only image IDs")
			fs.BoolVarP(&all, "all", "a", false, "list intermediate images too (the unnamed steps of builds)")
			fs.BoolVar(&digests, "digests", false, "show the manifest digest")
			fs.StringVar(&spec, "format", "", `"json" for a JSON array, or a Go template ("table {{.Repository}}\t{{.ID}}"): Repository, Tag, Digest, ID, CreatedSince, CreatedAt, Size`)
		},
		interspersed: true,
		args:         between(0, 1, "takes at most one REPOSITORY[:TAG]"),
		run: func(fs *pflag.FlagSet, args []string) error {
			table := imagesTable
			if digests {
				table = imagesDigestsTable
			}
			out, err := listFormat(spec, table, imageRow{}, "images")
			if err != nil {
				return err
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			list, err := s.store.List()
			if err != nil {
				return err
			}
			if !all {
				list = slices.DeleteFunc(list, func(r image.Summary) bool { return r.Intermediate })
			}
			if len(args) == 1 {
				// Docker's filter: the repository, and the tag if given.
				repo, tag, hasTag := args[0], "", false
				if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
					repo, tag, hasTag = repo[:i], repo[i+1:], true
				}
				norm := repo
				if n, err := image.NormalizeRef(repo); err == nil {
					norm, _ = image.SplitRef(n)
				}
				list = slices.DeleteFunc(list, func(r image.Summary) bool {
					return (r.Repository != repo && r.Repository != norm) || (hasTag && r.Tag != tag)
				})
			}
			switch {
			case quiet:
				seen := map[string]bool{}
				for _, r := range list {
					if !seen[r.ID] {
						fmt.Println(image.ShortID(r.ID))
						seen[r.ID] = true
					}
				}
				return nil
			case out == nil:
				return printJSON(list)
			}
			return out.Execute(os.Stdout, imageRows(list), imageColumns)
		},
	}
}

func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

func inspectCommand() *command { return inspectCommandFor("inspect", "") }

// imageInspectCommand and containerInspectCommand are the noun forms:
// `image inspect X` never answers with a container whose ID begins with
// X, as Docker's does not.
func imageInspectCommand() *command { return inspectCommandFor("image inspect", inspectImage) }
func containerInspectCommand() *command {
	return inspectCommandFor("container inspect", inspectContainer)
}

// The kinds of object inspect looks for (Docker's --type).
const (
	inspectContainer = "container"
	inspectImage     = "image"
)

// inspectCommandFor is inspect under name: of kind only, or (kind "")
// a container by that name or ID first, then an image, as Docker's, with
// --type to choose.
func inspectCommandFor(name, kind string) *command {
	var spec, typ string
	usage := "[-f TEMPLATE] [--type container|image] CONTAINER|IMAGE..."
	switch kind {
	case inspectImage:
		usage = "[-f TEMPLATE] IMAGE..."
	case inspectContainer:
		usage = "[-f TEMPLATE] CONTAINER..."
	}
	return &command{
		name:    name,
		usage:   usage,
		summary: "Show the details of containers or images as JSON, or through a Go template.",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&spec, "format", "f", "", `a Go template applied to each ("{{.State.Status}}", "{{json .Config}}"); default: a JSON array`)
			if kind == "" {
				fs.StringVar(&typ, "type", "", "look only for a container or only for an image (container|image)")
			}
		},
		interspersed: true,
		args:         atLeast(1, "needs an IMAGE"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if kind != "" {
				typ = kind
			}
			if typ != "" && typ != inspectContainer && typ != inspectImage {
				return &usageError{lookup("inspect"), fmt.Errorf("--type %q: want %s or %s", typ, inspectContainer, inspectImage)}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			var out []any
			for _, a := range args {
				// A container by that name or ID first, as docker does.
				if typ != inspectImage {
					d, err := container.Inspect(s.store, a)
					if err == nil {
						out = append(out, d)
						continue
					}
					if !errors.Is(err, container.ErrNotFound) || typ == inspectContainer {
						return err // an ambiguous prefix, say
					}
				}
				id, err := s.store.Inspect(a)
				if err != nil {
					if typ == inspectImage {
						return err
					}
					return fmt.Errorf("no container or image %q: %w", a, err)
				}
				out = append(out, id)
			}
			if spec == "" || spec == format.JSON {
				return printJSON(out)
			}
			for _, o := range out {
				t, err := format.Parse(spec, o)
				if err != nil {
					return &usageError{lookup("inspect"), err}
				}
				if err := t.Execute(os.Stdout, []any{o}, nil); err != nil {
					return &usageError{lookup("inspect"), err}
				}
			}
			return nil
		},
	}
}

func historyCommand() *command {
	var quiet bool
	var spec string
	return &command{
		name:    "history",
		usage:   "[-q] [--format json|TEMPLATE] IMAGE",
		summary: "Show how an image was made, newest step first.",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&quiet, "quiet", "q", false, "print only IDs")
			fs.StringVar(&spec, "format", "", `"json" for a JSON array, or a Go template: ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment`)
		},
		interspersed: true,
		args:         exactly(1, "needs one IMAGE"),
		run: func(fs *pflag.FlagSet, args []string) error {
			table := historyTable
			if quiet {
				table = "{{.ID}}"
			}
			out, err := listFormat(spec, table, historyRow{}, "history")
			if err != nil {
				return err
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			rows, err := s.store.History(args[0])
			if err != nil {
				return err
			}
			if out == nil {
				return printJSON(rows)
			}
			return out.Execute(os.Stdout, historyRows(rows), historyColumns)
		},
	}
}

func tagCommand() *command {
	return &command{
		name:         "tag",
		usage:        "IMAGE NAME[:TAG]",
		summary:      "Give an image another name.",
		interspersed: true,
		args:         exactly(2, "needs an IMAGE and a NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			return s.store.Tag(args[0], args[1])
		},
	}
}

func rmiCommand() *command {
	var force bool
	return &command{
		name:    "rmi",
		usage:   "[-f] IMAGE...",
		summary: "Remove images (a name of an image with several is only untagged).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&force, "force", "f", false, "untag an image even when containers use it")
		},
		interspersed: true,
		args:         atLeast(1, "needs an IMAGE"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			var errs []error
			users := func() (map[string][]string, error) { return container.UsersOf(s.store) }
			for _, a := range args {
				res, err := s.store.Remove(a, force, users)
				printRemoved(res)
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
	}
}

func printRemoved(res image.RemoveResult) {
	for _, n := range res.Untagged {
		fmt.Printf("Untagged: %s\n", n)
	}
	for _, id := range res.Deleted {
		fmt.Printf("Deleted: %s\n", id)
	}
}

// imageCommand holds `image prune` (and `image ls`, the same as images).
// imagePruneCommand is `image prune`.
func imagePruneCommand() *command {
	var all bool
	return &command{
		name:         "image prune",
		usage:        "[-a]",
		summary:      "Remove dangling images (-a: every image no container uses) and the layers only they used.",
		flags:        func(fs *pflag.FlagSet) { fs.BoolVarP(&all, "all", "a", false, "prune every image no container uses") },
		interspersed: true,
		args:         exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			res, err := s.store.Prune(all, func() (map[string][]string, error) { return container.UsersOf(s.store) })
			for _, id := range res.Deleted {
				fmt.Printf("Deleted: %s\n", id)
			}
			fmt.Printf("Total reclaimed space: %s\n", format.Size(res.Freed))
			return err
		},
	}
}

func saveCommand() *command {
	var output, format string
	return &command{
		name:    "save",
		long:    true,
		usage:   "[-o FILE] [--format docker-archive|oci-archive] IMAGE...",
		summary: "Write images to an archive (several images in one).",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&output, "output", "o", "", "the archive to write (default: standard output)")
			fs.StringVar(&format, "format", image.DockerArchive, "docker-archive or oci-archive")
		},
		interspersed: true,
		args:         atLeast(1, "needs an IMAGE"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if output == "" && isTerminal(os.Stdout) {
				return &usageError{lookup("save"), errors.New("refusing to write an archive to a terminal: give -o FILE or redirect")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			w := os.Stdout
			if output != "" {
				// Written beside the target and renamed at the end: a failed
				// save never leaves a truncated archive under the name.
				tmp := output + ".partial"
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				defer os.Remove(tmp)
				defer f.Close()
				if err := s.store.Save(args, format, f); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				return os.Rename(tmp, output)
			}
			return s.store.Save(args, format, w)
		},
	}
}

func pushCommand() *command {
	var f pullFlags
	var quiet bool
	return &command{
		name:    "push",
		long:    true,
		usage:   "[FLAGS] IMAGE [DESTINATION]",
		summary: "Send an image to a registry (blobs it already has are not sent again).",
		flags: func(fs *pflag.FlagSet) {
			f.add(fs)
			fs.BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
		},
		interspersed: true,
		args:         between(1, 2, "needs an IMAGE and optionally a DESTINATION"),
		run: func(fs *pflag.FlagSet, args []string) error {
			dest := ""
			if len(args) == 2 {
				dest = args[1]
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			digest, err := s.store.Push(context.Background(), args[0], dest, *f.options(s, true))
			if err != nil {
				return err
			}
			if !quiet {
				fmt.Println(digest)
			}
			return nil
		},
	}
}

func commitCommand() *command {
	var o image.CommitOptions
	return &command{
		name:    "commit",
		long:    true,
		usage:   "[FLAGS] CONTAINER [NAME[:TAG]]",
		summary: "Make a new image from a container's changes.",
		flags: func(fs *pflag.FlagSet) {
			stringArrayVarP(fs, &o.Changes, "change", "c", `apply an instruction: "CMD …", "ENTRYPOINT …", "ENV K=V", "WORKDIR …", "USER …", "LABEL K=V", "EXPOSE …" (or INSTR=VALUE)`)
			fs.StringVarP(&o.Message, "message", "m", "", "a comment for the new layer")
			fs.StringVarP(&o.Author, "author", "a", "", "the author")
		},
		interspersed: true,
		args:         between(1, 2, "needs a CONTAINER and optionally a NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if len(args) == 2 {
				o.Ref = args[1]
			}
			// Every --change may hold commas (CMD=a,b): they are split only
			// when each part names an instruction.
			o.Changes = splitChanges(o.Changes)
			s, err := openSetup()
			if err != nil {
				return err
			}
			img, err := container.Commit(s.store, args[0], o)
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

// splitChanges splits "CMD=sh,ENV=A=1" into two changes, but leaves
// "CMD [\"a\",\"b\"]" whole: a comma starts a new change only when what
// follows it names an instruction.
func splitChanges(changes []string) []string {
	var out []string
	instr := func(s string) bool {
		up := strings.ToUpper(s)
		for _, k := range []string{"CMD", "ENTRYPOINT", "ENV", "WORKDIR", "USER", "LABEL", "EXPOSE"} {
			if strings.HasPrefix(up, k+"=") || strings.HasPrefix(up, k+" ") {
				return true
			}
		}
		return false
	}
	for _, c := range changes {
		parts := strings.Split(c, ",")
		cur := parts[0]
		for _, p := range parts[1:] {
			if instr(p) {
				out = append(out, cur)
				cur = p
			} else {
				cur += "," + p
			}
		}
		out = append(out, cur)
	}
	return out
}

func importCommand() *command {
	var quiet bool
	return &command{
		name:         "import",
		long:         true,
		usage:        "FILE.tar[.gz|.zst]|DIR NAME[:TAG]",
		summary:      "Make a one-layer image from a root filesystem tarball or directory.",
		flags:        func(fs *pflag.FlagSet) { fs.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID") },
		interspersed: true,
		args:         exactly(2, "needs a source and a name"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			img, err := s.store.Import(args[0], args[1], warn)
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func pullCommand() *command {
	var f pullFlags
	var quiet bool
	return &command{
		name:    "pull",
		long:    true,
		usage:   "[FLAGS] IMAGE",
		summary: "Fetch an image from a registry (a name without one is looked up in the search list, docker.io by default).",
		flags: func(fs *pflag.FlagSet) {
			f.add(fs)
			fs.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
		},
		interspersed: true,
		args:         exactly(1, "needs one IMAGE"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			img, err := s.store.Pull(context.Background(), args[0], *f.options(s, quiet))
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func loadCommand() *command {
	var input string
	return &command{
		name:         "load",
		long:         true,
		usage:        "-i FILE.tar",
		summary:      "Load images from a docker-archive (the `docker save` format) or an oci-archive.",
		flags:        func(fs *pflag.FlagSet) { fs.StringVarP(&input, "input", "i", "", "the archive to read") },
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if input == "" && len(args) == 1 {
				input = args[0]
			}
			if input == "" {
				return &usageError{lookup("load"), errors.New("load needs an archive: -i FILE.tar")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			imgs, err := s.store.Load(input, warn)
			for _, img := range imgs {
				if len(img.Names) > 0 {
					fmt.Printf("Loaded image: %s\n", img.Names[0])
				} else {
					fmt.Printf("Loaded image: %s\n", img.ID)
				}
			}
			return err
		},
	}
}
