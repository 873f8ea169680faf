package buildkit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/sandbox-dev/sandbox/containerfile"
)

// server is one session: the nodes of the instructions it has handed out,
// by ID, which Expand parses afresh each time (BuildKit's Expand rewrites
// an instruction in place, so expanding a kept one twice would expand its
// result again).
type server struct {
	lex   *shell.Lex
	nodes map[int]*parser.Node
	next  int
}

// Serve answers requests, one JSON line each, from r on w until r ends.
func Serve(r io.Reader, w io.Writer) error {
	s := &server{lex: shell.NewLex(parser.DefaultEscapeToken), nodes: map[int]*parser.Node{}}
	dec := json.NewDecoder(bufio.NewReader(r))
	enc := json.NewEncoder(w)
	for {
		var req containerfile.Request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading a request: %w", err)
		}
		if err := enc.Encode(s.answer(req)); err != nil {
			return fmt.Errorf("writing a reply: %w", err)
		}
	}
}

func (s *server) answer(req containerfile.Request) containerfile.Reply {
	var rep containerfile.Reply
	var err error
	switch req.Op {
	case containerfile.OpParse:
		rep.File, err = s.parse([]byte(req.Data))
	case containerfile.OpExpand:
		var in containerfile.Instruction
		in, err = s.expand(req.ID, req.Env)
		rep.Instruction = &in
	case containerfile.OpParseInstruction:
		var in containerfile.Instruction
		in, err = s.parseInstruction(req.Data)
		rep.Instruction = &in
	default:
		err = fmt.Errorf("unknown operation %q", req.Op)
	}
	if err != nil {
		return containerfile.Reply{Error: asError(err)}
	}
	return rep
}

// syntaxError marks an error of parsing, as opposed to one of expanding.
type syntaxError struct{ error }

func (e syntaxError) Unwrap() error { return e.error }

// asError is err as the session sends it: the parser's message without
// its location, and the line apart.
func asError(err error) *containerfile.Error {
	e := &containerfile.Error{Msg: err.Error()}
	var se syntaxError
	e.Syntax = errors.As(err, &se)
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		e.Line = le.Locations[0][0].Start.Line
		if inner := errors.Unwrap(le); inner != nil {
			e.Msg = inner.Error()
		}
	}
	return e
}

func (s *server) parse(data []byte) (*containerfile.File, error) {
	res, err := parser.Parse(strings.NewReader(string(data)))
	if err != nil {
		return nil, syntaxError{err}
	}
	s.lex = shell.NewLex(res.EscapeToken)
	f := &containerfile.File{Escape: res.EscapeToken}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		f.Warnings = append(f.Warnings, containerfile.Warning{Line: line, Short: w.Short})
	}
	if syntax, _, _, ok := parser.ParseDirective("syntax", data); ok {
		f.Syntax = syntax
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, syntaxError{err}
	}
	// Every node of the AST is, in order, a meta ARG, a FROM or an
	// instruction of the stage that FROM began.
	nodes := res.AST.Children
	take := func(cmd instructions.Command) (*parser.Node, error) {
		if len(nodes) == 0 || len(cmd.Location()) == 0 || nodes[0].StartLine != cmd.Location()[0].Start.Line {
			return nil, fmt.Errorf("line %d: the parser's instructions do not follow its syntax tree", lineOf(cmd.Location()))
		}
		n := nodes[0]
		nodes = nodes[1:]
		return n, nil
	}
	for i := range metaArgs {
		n, err := take(&metaArgs[i])
		if err != nil {
			return nil, err
		}
		f.MetaArgs = append(f.MetaArgs, s.convert(&metaArgs[i], n))
	}
	for _, st := range stages {
		if len(nodes) == 0 {
			return nil, errors.New("the parser's stages do not follow its syntax tree")
		}
		nodes = nodes[1:] // the FROM
		out := containerfile.Stage{Name: st.Name, BaseName: st.BaseName, Platform: st.Platform, SourceCode: st.SourceCode, Line: lineOf(st.Location)}
		for _, cmd := range st.Commands {
			n, err := take(cmd)
			if err != nil {
				return nil, err
			}
			out.Commands = append(out.Commands, s.convert(cmd, n))
		}
		f.Stages = append(f.Stages, out)
	}
	return f, nil
}

func (s *server) parseInstruction(line string) (containerfile.Instruction, error) {
	res, err := parser.Parse(strings.NewReader(line))
	if err != nil {
		return containerfile.Instruction{}, syntaxError{err}
	}
	if len(res.AST.Children) != 1 {
		return containerfile.Instruction{}, syntaxError{fmt.Errorf("%d instructions where one was expected", len(res.AST.Children))}
	}
	n := res.AST.Children[0]
	cmd, err := instructions.ParseCommand(n)
	if err != nil {
		return containerfile.Instruction{}, syntaxError{err}
	}
	return s.convert(cmd, n), nil
}

func (s *server) expand(id int, env []string) (containerfile.Instruction, error) {
	n, ok := s.nodes[id]
	if !ok {
		return containerfile.Instruction{}, fmt.Errorf("no instruction %d", id)
	}
	cmd, err := instructions.ParseCommand(n)
	if err != nil {
		return containerfile.Instruction{}, syntaxError{err}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		envs := shell.EnvsFromSlice(env)
		if err := ex.Expand(func(word string) (string, error) {
			v, _, err := s.lex.ProcessWord(word, envs)
			return v, err
		}); err != nil {
			return containerfile.Instruction{}, err
		}
	}
	in := s.convert(cmd, nil)
	in.ID = id
	return in, nil
}

func lineOf(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// convert is cmd as plain data. With n (its node) an instruction that
// can be expanded gets an ID.
func (s *server) convert(cmd instructions.Command, n *parser.Node) containerfile.Instruction {
	// Name is the keyword as written ("run", "Copy"): instructions are
	// not case-sensitive.
	in := containerfile.Instruction{Kind: strings.ToUpper(cmd.Name()), Line: lineOf(cmd.Location()), Text: cmd.Name()}
	if str, ok := cmd.(fmt.Stringer); ok {
		in.Text = str.String()
	}
	if _, ok := cmd.(instructions.SupportsSingleWordExpansion); ok && n != nil {
		if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
			s.next++
			s.nodes[s.next] = n
			in.ID = s.next
		}
	}
	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			in.Args = append(in.Args, containerfile.Arg{Key: kv.Key, Value: kv.Value})
		}
	case *instructions.EnvCommand:
		in.Pairs = pairs(c.Env)
	case *instructions.LabelCommand:
		in.Pairs = pairs(c.Labels)
	case *instructions.RunCommand:
		in.CmdLine, in.PrependShell, in.FlagsUsed = c.CmdLine, c.PrependShell, c.FlagsUsed
		for _, f := range c.Files {
			in.Files = append(in.Files, containerfile.Heredoc{Name: f.Name, Data: f.Data})
		}
		if c.PrependShell && len(c.Files) == 1 && len(c.CmdLine) > 0 {
			line := strings.Join(c.CmdLine, " ")
			in.HeredocOnly = parser.MustParseHeredoc(line) != nil && strings.TrimSpace(line) == strings.TrimSpace(c.CmdLine[0])
		}
	case *instructions.CmdCommand:
		in.CmdLine, in.PrependShell = c.CmdLine, c.PrependShell
	case *instructions.EntrypointCommand:
		in.CmdLine, in.PrependShell = c.CmdLine, c.PrependShell
	case *instructions.CopyCommand:
		sources(&in, c.SourcesAndDest)
		in.From, in.Chown, in.Chmod, in.Link, in.Parents, in.Exclude = c.From, c.Chown, c.Chmod, c.Link, c.Parents, c.ExcludePatterns
	case *instructions.AddCommand:
		sources(&in, c.SourcesAndDest)
		in.Chown, in.Chmod, in.Link, in.Exclude, in.Checksum = c.Chown, c.Chmod, c.Link, c.ExcludePatterns, c.Checksum
	case *instructions.WorkdirCommand:
		in.Value = c.Path
	case *instructions.UserCommand:
		in.Value = c.User
	case *instructions.StopSignalCommand:
		in.Value = c.Signal
	case *instructions.OnbuildCommand:
		in.Value = c.Expression
	case *instructions.MaintainerCommand:
		in.Value = c.Maintainer
	case *instructions.ExposeCommand:
		in.Words = c.Ports
	case *instructions.VolumeCommand:
		in.Words = c.Volumes
	case *instructions.ShellCommand:
		in.Words = c.Shell
	case *instructions.HealthCheckCommand:
		if h := c.Health; h != nil {
			in.Health = &containerfile.Health{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
				StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
		}
	}
	return in
}

func pairs(kvs instructions.KeyValuePairs) []containerfile.KeyValue {
	var out []containerfile.KeyValue
	for _, kv := range kvs {
		out = append(out, containerfile.KeyValue{Key: kv.Key, Value: kv.Value})
	}
	return out
}

func sources(in *containerfile.Instruction, sd instructions.SourcesAndDest) {
	in.Sources, in.Dest = sd.SourcePaths, sd.DestPath
	for _, sc := range sd.SourceContents {
		in.SourceContents = append(in.SourceContents, containerfile.Heredoc{Name: sc.Path, Data: sc.Data, Expand: sc.Expand})
	}
}
