package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/containerfile"
	"github.com/sandbox-dev/sandbox/containerfile/containerfilebin"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/userns"
)

// Options are what `sandbox build` was given.
type Options struct {
	// Context is the build context directory; File the Containerfile
	// ("": Containerfile, then Dockerfile, in Context).
	Context, File string
	// Tags name the final image.
	Tags      []string
	BuildArgs map[string]string
	// Target is the stage to build ("": the last).
	Target  string
	NoCache bool
	// Network is RUN's network: host, none or slirp.
	Network string
	// Timestamp, when set, is every created time and every new layer's
	// file mtime: the same file and context give the same image ID.
	Timestamp *time.Time
	// Quiet prints only the final image ID.
	Quiet bool
	// Pull fetches a FROM image the store lacks.
	Pull image.PullOptions
	Out  *os.File // step lines and RUN's output
	Warn func(string)
	// Run is what every RUN's sandbox starts from: config.toml's launch
	// defaults (resources, security, dns, add_hosts), the storage driver
	// and the cgroups policy. The build sets the rest.
	Run container.Config
}

// proxyArgs are the build args every build accepts without an ARG: RUN
// sees them, the image does not keep them.
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// ErrSyntax is a Containerfile that cannot be parsed: nothing was run.
var ErrSyntax = errors.New("Containerfile error")

// StepError is a RUN that failed: Code is its exit status.
type StepError struct {
	Step string
	Code int
}

func (e *StepError) Error() string {
	return fmt.Sprintf("building at STEP %q: the command exited with status %d (the steps before it are cached; no image was tagged)", e.Step, e.Code)
}

// builder is one build's state.
type builder struct {
	s       *image.Store
	o       Options
	out     io.Writer
	file    string
	lex     *shell.Lex
	parser  *containerfilebin.Parser // BuildKit's, in its own program
	meta    map[string]string        // ARGs before the first FROM, with values
	used    map[string]bool          // build args some ARG declared
	ignore  *patternmatcher.PatternMatcher
	results map[int]*stageResult
	stages  []containerfile.Stage
	created time.Time
	// fileTime is the Containerfile's mtime: the time of what a step
	// writes that has none of its own (heredoc files, made directories).
	fileTime time.Time
	noted    bool
}

// stageResult is a built stage: its image (nil for an empty scratch).
type stageResult struct {
	img *image.Image
	cfg v1.ConfigFile
}

// Build builds the target stage of the Containerfile and names the result
// with every tag. A syntax error is found before anything runs.
func Build(s *image.Store, o Options) (*image.Image, error) {
	b := &builder{s: s, o: o, out: o.Out, meta: map[string]string{}, used: map[string]bool{}, results: map[int]*stageResult{}}
	if o.Quiet || b.out == nil {
		b.out = io.Discard
	}
	b.created = time.Now().UTC()
	if o.Timestamp != nil {
		b.created = o.Timestamp.UTC()
	}
	var err error
	if b.file, err = findFile(o.Context, o.File); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(b.file)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", b.file, err)
	}
	if fi, err := os.Stat(b.file); err == nil {
		b.fileTime = fi.ModTime()
	}
	// The parser's session is JSON, which would turn other bytes into
	// U+FFFD: say so rather than build from something else.
	if line := notUTF8(data); line > 0 {
		return nil, fmt.Errorf("%w: %s:%d: not UTF-8 text (sandbox build reads a Containerfile as UTF-8: convert it, with iconv for one)", ErrSyntax, b.file, line)
	}
	for k, v := range o.BuildArgs {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("--build-arg %s: not UTF-8 text", strings.ToValidUTF8(k, "?"))
		}
	}
	if b.parser, err = containerfilebin.Start(s.RunDir); err != nil {
		return nil, err
	}
	defer b.parser.Close()
	res, err := b.parser.Parse(data)
	if err != nil {
		return nil, b.located(err)
	}
	for _, w := range res.Warnings {
		b.warn(fmt.Sprintf("%s:%d: %s", b.file, w.Line, w.Short))
	}
	if res.Syntax != "" {
		b.warn(fmt.Sprintf("%s: the # syntax=%s directive is ignored: sandbox builds with BuildKit's parser as it is built in", b.file, res.Syntax))
	}
	b.lex = shell.NewLex(res.Escape)
	stages, metaArgs := res.Stages, res.MetaArgs
	if len(stages) == 0 {
		return nil, fmt.Errorf("%w: %s has no FROM", ErrSyntax, b.file)
	}
	b.stages = stages
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			v, err := b.argValue(kv, b.metaEnv())
			if err != nil {
				return nil, b.locatedAt(a.Line, err)
			}
			if v != nil {
				b.meta[kv.Key] = *v
			}
		}
	}
	if b.ignore, err = readIgnore(o.Context); err != nil {
		return nil, err
	}
	target := len(stages) - 1
	if o.Target != "" {
		if target = b.stageIndex(o.Target); target < 0 {
			var names []string
			for _, st := range stages {
				if st.Name != "" {
					names = append(names, st.Name)
				}
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("--target %q: %s names no stage (name one with FROM IMAGE AS NAME)", o.Target, b.file)
			}
			return nil, fmt.Errorf("--target %q: %s has no stage of that name (its named stages: %s)", o.Target, b.file, strings.Join(names, ", "))
		}
	}
	needed := b.needed(target)
	// What sandbox cannot build is refused before any step runs.
	for i, st := range stages {
		if !needed[i] {
			continue
		}
		for _, cmd := range st.Commands {
			if err := check(cmd); err != nil {
				return nil, b.locatedAt(cmd.Line, err)
			}
		}
	}
	for i := range stages {
		if !needed[i] {
			continue
		}
		if err := b.buildStage(i, needed); err != nil {
			return nil, err
		}
	}
	final := b.results[target]
	if final.img == nil {
		// FROM scratch and nothing else: an image of no layers.
		img, err := s.AddStep(nil, nil, final.cfg, b.created, v1.History{CreatedBy: "FROM scratch"})
		if err != nil {
			return nil, err
		}
		final.img = img
	}
	for _, t := range o.Tags {
		fmt.Fprintf(b.out, "COMMIT %s\n", t)
		if err := s.Tag(final.img.ID, t); err != nil {
			return nil, fmt.Errorf("naming the image %q: %w", t, err)
		}
		name, _ := image.NormalizeRef(t)
		fmt.Fprintf(b.out, "--> %s\nSuccessfully tagged %s\n", image.ShortID(final.img.ID), name)
	}
	var unused []string
	for k := range o.BuildArgs {
		if !b.used[k] && !slices.Contains(proxyArgs, k) {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		b.warn(fmt.Sprintf("--build-arg %s: no ARG of the Containerfile declares it, so nothing used it", strings.Join(unused, ", ")))
	}
	return final.img, nil
}

// notUTF8 is the first line of data that is not UTF-8 text, or 0.
func notUTF8(data []byte) int {
	if utf8.Valid(data) {
		return 0
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if !utf8.Valid(line) {
			return i + 1
		}
	}
	return 0
}

// findFile is -f FILE, or Containerfile, then Dockerfile, in the context.
func findFile(ctx, file string) (string, error) {
	if fi, err := os.Stat(ctx); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("build context %q is not a directory", ctx)
	}
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			return "", fmt.Errorf("-f %s: %w", file, err)
		}
		return file, nil
	}
	for _, name := range []string{"Containerfile", "Dockerfile"} {
		p := filepath.Join(ctx, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no Containerfile or Dockerfile: add one, or name one with -f FILE", ctx)
}

// located names the file and line of a parse error.
func (b *builder) located(err error) error {
	var pe *containerfile.Error
	if !errors.As(err, &pe) || !pe.Syntax {
		return err
	}
	if pe.Line > 0 {
		return fmt.Errorf("%w: %s:%d: %s", ErrSyntax, b.file, pe.Line, pe.Msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrSyntax, b.file, pe.Msg)
}

func (b *builder) locatedAt(line int, err error) error {
	return fmt.Errorf("%s:%d: %w", b.file, line, err)
}

func (b *builder) warn(msg string) {
	if b.o.Warn != nil {
		b.o.Warn(msg)
	}
}

// argValue is an ARG's value: the build arg given for it, else its
// default expanded; nil when neither exists.
func (b *builder) argValue(kv containerfile.Arg, env []string) (*string, error) {
	b.used[kv.Key] = true
	if v, ok := b.o.BuildArgs[kv.Key]; ok {
		return &v, nil
	}
	if kv.Value == nil {
		return nil, nil
	}
	v, _, err := b.lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(env))
	if err != nil {
		return nil, fmt.Errorf("ARG %s: %w", kv.Key, err)
	}
	return &v, nil
}

func (b *builder) metaEnv() []string {
	var env []string
	for k, v := range b.meta {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// stageIndex is the stage a FROM or --from names (by name or number), or -1.
func (b *builder) stageIndex(name string) int {
	for i, st := range b.stages {
		if st.Name != "" && strings.EqualFold(st.Name, name) {
			return i
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < len(b.stages) {
		return n
	}
	return -1
}

// needed marks the stages target depends on: its FROM and COPY --from
// stages, and theirs. Only these are built.
func (b *builder) needed(target int) map[int]bool {
	need := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		if j := b.stageIndex(b.expandMeta(b.stages[i].BaseName)); j >= 0 && j < i {
			visit(j)
		}
		for _, c := range b.stages[i].Commands {
			if c.Kind == "COPY" && c.From != "" {
				if j := b.stageIndex(b.expandMeta(c.From)); j >= 0 && j < i {
					visit(j)
				}
			}
		}
	}
	visit(target)
	return need
}

func (b *builder) expandMeta(word string) string {
	v, _, err := b.lex.ProcessWord(word, shell.EnvsFromSlice(b.metaEnv()))
	if err != nil {
		return word
	}
	return v
}

// state is a stage being built.
type state struct {
	img   *image.Image // the last step's image; nil: scratch, nothing yet
	cfg   v1.ConfigFile
	args  map[string]string // ARGs declared in this stage
	shell []string
	// cmdSetHere: a CMD of this stage, which a later ENTRYPOINT keeps.
	cmdSetHere bool
}

func (st *state) env() []string {
	var env []string
	for k, v := range st.args {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return append(env, st.cfg.Config.Env...)
}

func (b *builder) buildStage(i int, needed map[int]bool) error {
	stage := b.stages[i]
	prefix := ""
	if n := len(needed); n > 1 {
		k := 0
		for j := 0; j <= i; j++ {
			if needed[j] {
				k++
			}
		}
		prefix = fmt.Sprintf("[%d/%d] ", k, n)
	}
	total := len(stage.Commands) + 1
	fmt.Fprintf(b.out, "%sSTEP 1/%d: %s\n", prefix, total, stage.SourceCode)
	st := &state{args: map[string]string{}, shell: []string{"/bin/sh", "-c"}}
	if err := b.from(st, stage); err != nil {
		return b.locatedAt(stage.Line, err)
	}
	if err := b.onbuild(st); err != nil {
		return b.locatedAt(stage.Line, err)
	}
	for n, cmd := range stage.Commands {
		fmt.Fprintf(b.out, "%sSTEP %d/%d: %s\n", prefix, n+2, total, cmd.Text)
		if err := b.step(st, cmd); err != nil {
			var se *StepError
			if errors.As(err, &se) {
				return err
			}
			return b.locatedAt(cmd.Line, err)
		}
	}
	b.results[i] = &stageResult{img: st.img, cfg: st.cfg}
	return nil
}

// onbuild runs the base image's ONBUILD triggers, as Docker does at FROM,
// and clears them: the new image does not inherit them.
func (b *builder) onbuild(st *state) error {
	triggers := st.cfg.Config.OnBuild
	if len(triggers) == 0 {
		return nil
	}
	st.cfg.Config.OnBuild = nil
	for _, t := range triggers {
		cmd, err := b.parser.ParseInstruction(t)
		if err != nil {
			return fmt.Errorf("the base image's ONBUILD %q: %w", t, err)
		}
		if err := check(cmd); err != nil {
			return fmt.Errorf("the base image's ONBUILD %q: %w", t, err)
		}
		fmt.Fprintf(b.out, "ONBUILD %s\n", t)
		if err := b.step(st, cmd); err != nil {
			return err
		}
	}
	return nil
}

// from starts a stage on its base: an earlier stage, scratch, or an image
// (pulled when the store lacks it).
func (b *builder) from(st *state, stage containerfile.Stage) error {
	base := b.expandMeta(stage.BaseName)
	if j := b.stageIndex(base); j >= 0 && b.results[j] != nil {
		r := b.results[j]
		st.img, st.cfg = r.img, *r.cfg.DeepCopy()
		return nil
	}
	if strings.EqualFold(base, "scratch") {
		st.cfg = v1.ConfigFile{OS: goruntime.GOOS, Architecture: goruntime.GOARCH}
		return nil
	}
	img, err := b.s.Resolve(base)
	if errors.Is(err, image.ErrNotFound) {
		fmt.Fprintf(b.out, "Resolving %q: not in the store, pulling\n", base)
		img, err = b.s.Pull(context.Background(), base, b.o.Pull)
	}
	if err != nil {
		return fmt.Errorf("FROM %s: %w", base, err)
	}
	if img.Host {
		return fmt.Errorf("FROM %s: the host image is this machine's own files, not layers a build can add to", base)
	}
	st.img, st.cfg = img, *img.Config.DeepCopy()
	return nil
}

// step runs one instruction.
func (b *builder) step(st *state, cmd containerfile.Instruction) error {
	if cmd.Kind == "ARG" {
		// ARG changes what later steps see, not the image.
		for _, kv := range cmd.Args {
			env := append(b.metaEnv(), st.env()...)
			if v, ok := b.meta[kv.Key]; ok && kv.Value == nil {
				// An ARG repeated from before FROM takes that value.
				if _, given := b.o.BuildArgs[kv.Key]; !given {
					b.used[kv.Key] = true
					st.args[kv.Key] = v
					continue
				}
			}
			v, err := b.argValue(kv, env)
			if err != nil {
				return err
			}
			if v != nil {
				st.args[kv.Key] = *v
			} else {
				st.args[kv.Key] = ""
			}
		}
		return nil
	}
	cmd, err := b.parser.Expand(cmd, st.env())
	if err != nil {
		return err
	}
	switch cmd.Kind {
	case "RUN":
		return b.run(st, cmd)
	case "COPY":
		return b.copy(st, cmd, cmd.From, false)
	case "ADD":
		return b.copy(st, cmd, "", true)
	}
	if err := b.configStep(st, cmd); err != nil {
		return err
	}
	return b.commit(st, cmd, nil, "")
}

// check refuses what sandbox does not build, rather than building
// something other than what was asked.
func check(c containerfile.Instruction) error {
	switch c.Kind {
	case "RUN":
		if len(c.FlagsUsed) > 0 {
			return fmt.Errorf("RUN --%s: not supported by sandbox build (docs/build.md)", c.FlagsUsed[0])
		}
	case "COPY":
		return unsupported(c.Link, c.Parents, len(c.Exclude) > 0, false)
	case "ADD":
		for _, p := range c.Sources {
			if strings.HasPrefix(p, "git@") || strings.HasSuffix(p, ".git") {
				return fmt.Errorf("ADD %s: git sources are not supported by sandbox build (docs/build.md)", p)
			}
		}
		return unsupported(c.Link, false, len(c.Exclude) > 0, c.Checksum != "")
	}
	return nil
}

// unsupported refuses the COPY and ADD flags sandbox does not implement,
// rather than building something else than asked.
func unsupported(link, parents, exclude, checksum bool) error {
	for _, f := range []struct {
		used bool
		flag string
	}{{link, "--link"}, {parents, "--parents"}, {exclude, "--exclude"}, {checksum, "--checksum"}} {
		if f.used {
			return fmt.Errorf("%s: not supported by sandbox build (docs/build.md)", f.flag)
		}
	}
	return nil
}

// configStep applies an instruction that changes only the config.
func (b *builder) configStep(st *state, x containerfile.Instruction) error {
	c := &st.cfg.Config
	switch x.Kind {
	case "ENV":
		for _, kv := range x.Pairs {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
		}
	case "WORKDIR":
		p := x.Value
		if !path.IsAbs(p) {
			p = path.Join("/", c.WorkingDir, p)
		}
		c.WorkingDir = path.Clean(p)
	case "USER":
		c.User = x.Value
	case "CMD":
		c.Cmd = st.command(x)
	case "ENTRYPOINT":
		c.Entrypoint = st.command(x)
		// An entrypoint set here drops the Cmd inherited with the base,
		// as Docker does.
		if !st.cmdSetHere {
			c.Cmd = nil
		}
	case "LABEL":
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range x.Pairs {
			c.Labels[kv.Key] = kv.Value
		}
	case "EXPOSE":
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range x.Words {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	case "VOLUME":
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range x.Words {
			c.Volumes[v] = struct{}{}
		}
	case "STOPSIGNAL":
		c.StopSignal = x.Value
	case "HEALTHCHECK":
		if h := x.Health; h != nil {
			c.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		}
	case "ONBUILD":
		c.OnBuild = append(c.OnBuild, x.Value)
	case "SHELL":
		st.shell = append([]string{}, x.Words...)
		c.Shell = st.shell
	case "MAINTAINER":
		st.cfg.Author = x.Value
	default:
		return fmt.Errorf("%s: not supported by sandbox build (docs/build.md)", x.Kind)
	}
	if x.Kind == "CMD" {
		st.cmdSetHere = true
	}
	return nil
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// command is a CMD, ENTRYPOINT or RUN line as arguments: the exec form as
// written, the shell form run by the stage's SHELL.
func (st *state) command(c containerfile.Instruction) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	return append(append([]string{}, st.shell...), strings.Join(c.CmdLine, " "))
}

// cacheKey identifies a step: its parent image, its instruction, the args
// and proxy build args in scope, the timestamp asked for and, for COPY and
// ADD, the digest of the layer it makes.
func (b *builder) cacheKey(st *state, cmd containerfile.Instruction, content string) string {
	h := sha256.New()
	parent := "scratch"
	if st.img != nil {
		parent = st.img.ID
	}
	fmt.Fprintf(h, "parent %s\ninstruction %s\n", parent, cmd.Text)
	for _, e := range b.runArgs(st) {
		fmt.Fprintf(h, "arg %s\n", e)
	}
	fmt.Fprintf(h, "shell %q\nworkdir %s\nuser %s\n", st.shell, st.cfg.Config.WorkingDir, st.cfg.Config.User)
	if b.o.Timestamp != nil {
		fmt.Fprintf(h, "timestamp %d\n", b.o.Timestamp.Unix())
	}
	if content != "" {
		fmt.Fprintf(h, "content %s\n", content)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// runArgs are the args RUN sees as environment: the stage's ARGs and the
// proxy build args given.
func (b *builder) runArgs(st *state) []string {
	var env []string
	for k, v := range st.args {
		env = append(env, k+"="+v)
	}
	for _, k := range proxyArgs {
		if v, ok := b.o.BuildArgs[k]; ok {
			if _, declared := st.args[k]; !declared {
				env = append(env, k+"="+v)
			}
		}
	}
	sort.Strings(env)
	return env
}

// cached takes the step's image from the cache, if it is there.
func (b *builder) cached(st *state, key string) bool {
	if b.o.NoCache {
		return false
	}
	img, ok := b.s.CachedStep(key)
	if !ok {
		return false
	}
	fmt.Fprintf(b.out, "--> Using cache %s\n--> %s\n", strings.TrimPrefix(img.ID, "sha256:"), image.ShortID(img.ID))
	b.advance(st, img)
	return true
}

// advance makes img the stage's current image.
func (b *builder) advance(st *state, img *image.Image) {
	st.img, st.cfg = img, *img.Config.DeepCopy()
}

// commit stores the step's image: the config as it now is, plus the layer
// read from layer (nil: none), under its cache key.
func (b *builder) commit(st *state, cmd containerfile.Instruction, layer io.Reader, content string) error {
	key := b.cacheKey(st, cmd, content)
	if b.cached(st, key) {
		return nil
	}
	return b.store(st, cmd, layer, key)
}

// store adds the step's image (the config as it now is, plus the layer
// read from layer, if any), records it under key and moves on to it.
func (b *builder) store(st *state, cmd containerfile.Instruction, layer io.Reader, key string) error {
	img, err := b.s.AddStep(st.img, layer, st.cfg, b.created, v1.History{CreatedBy: historyOf(cmd)})
	if err != nil {
		return err
	}
	if err := b.s.CacheStep(key, img.ID); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "--> %s\n", image.ShortID(img.ID))
	b.advance(st, img)
	return nil
}

// historyOf is the step's created_by, as Podman writes it.
func historyOf(c containerfile.Instruction) string {
	if c.Kind == "RUN" {
		if c.PrependShell {
			return "/bin/sh -c " + strings.Join(c.CmdLine, " ")
		}
		return "/bin/sh -c #(nop) RUN " + strings.Join(c.CmdLine, " ")
	}
	return "/bin/sh -c #(nop) " + c.Text
}

// run runs a RUN step as a sandbox of the current image and makes its
// writable layer the step's layer.
func (b *builder) run(st *state, c containerfile.Instruction) error {
	if st.img == nil {
		return errors.New("RUN in a stage FROM scratch that has no files yet: there is nothing to run")
	}
	key := b.cacheKey(st, c, "")
	if b.cached(st, key) {
		return nil
	}
	if b.s.Mapping.Mode == userns.ModeSingle && !b.noted {
		b.noted = true
		msg := "single-id mode: RUN steps have only your own id mapped (root in the sandbox); chown to other ids is emulated and not recorded in layers (docs/build.md)"
		if b.s.Once("build-single-id", msg) {
			b.warn(msg)
		}
	}
	argv, err := st.runArgv(c)
	if err != nil {
		return err
	}
	cfg := b.o.Run
	cfg.Image, cfg.Cmd, cfg.Entrypoint, cfg.EntrypointSet = st.img.ID, argv, []string{}, true
	cfg.Env = append(b.runArgs(st), st.cfg.Config.Env...)
	cfg.Workdir, cfg.User, cfg.Network = st.cfg.Config.WorkingDir, st.cfg.Config.User, b.o.Network
	cfg.Name = "sandbox-build-" + randomName()
	cfg.Rm, cfg.Detach, cfg.Interactive, cfg.TTY, cfg.Restart = false, false, false, false, ""
	if cfg.Workdir == "" {
		cfg.Workdir = "/"
	}
	out := b.o.Out
	if b.o.Quiet || out == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		out = devnull
	}
	ctr, code, err := container.Run(b.s, cfg, container.IO{Stdout: out, Stderr: out, Warn: b.warn})
	if ctr != nil {
		defer container.Remove(b.s, ctr)
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &StepError{Step: c.Text, Code: code}
	}
	layer, whole := container.Layer(b.s, ctr, b.o.Timestamp)
	defer layer.Close()
	if whole {
		return errors.New("RUN with the vfs storage driver: its writable layer is a whole copy of the root, which a build cannot add as one step; use overlay or fuse-overlayfs")
	}
	return b.store(st, c, layer, key)
}

// runArgv is what RUN executes: the exec form as written; the shell form
// by the stage's SHELL; a heredoc's script by the shell, or the command
// line with its heredocs after it.
func (st *state) runArgv(c containerfile.Instruction) ([]string, error) {
	if len(c.Files) == 0 {
		return st.command(c), nil
	}
	if !c.PrependShell {
		return nil, errors.New("a heredoc needs the shell form of RUN")
	}
	if c.HeredocOnly {
		return append(append([]string{}, st.shell...), c.Files[0].Data), nil
	}
	script := strings.Join(c.CmdLine, " ")
	for _, f := range c.Files {
		script += "\n" + f.Data + f.Name
	}
	return append(append([]string{}, st.shell...), script), nil
}

func randomName() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
