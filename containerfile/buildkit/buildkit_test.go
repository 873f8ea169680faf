package buildkit

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/containerfile"
)

// session runs Serve behind a containerfile.Session, as the helper
// program does behind its pipes.
func session(t *testing.T) *containerfile.Session {
	t.Helper()
	reqR, reqW := io.Pipe()
	repR, repW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Serve(reqR, repW)
		repW.Close()
		done <- err
	}()
	t.Cleanup(func() {
		reqW.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return containerfile.NewSession(reqW, repR)
}

const file = `# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS first
ENV A=$BASE B="two words"
LABEL k=$A
RUN echo hi
RUN <<EOF
echo from a heredoc
EOF
COPY --chown=1:2 --chmod=600 a b /dst/
COPY <<greeting.txt /etc/
hello
greeting.txt
FROM first
COPY --from=first /dst /x
WORKDIR $A/sub
HEALTHCHECK --interval=5s --retries=2 CMD true
ENTRYPOINT ["sh"]
`

func TestParse(t *testing.T) {
	s := session(t)
	f, err := s.Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if f.Syntax != "docker/dockerfile:1" || f.Escape != '\\' {
		t.Errorf("syntax %q, escape %q", f.Syntax, f.Escape)
	}
	if len(f.MetaArgs) != 1 || f.MetaArgs[0].Kind != "ARG" || f.MetaArgs[0].Args[0].Key != "BASE" || *f.MetaArgs[0].Args[0].Value != "busybox" {
		t.Fatalf("meta args: %+v", f.MetaArgs)
	}
	if len(f.Stages) != 2 {
		t.Fatalf("%d stages, want 2", len(f.Stages))
	}
	st := f.Stages[0]
	if st.Name != "first" || st.BaseName != "$BASE" || st.Line != 3 || st.SourceCode != "FROM $BASE AS first" {
		t.Errorf("stage 0: %+v", st)
	}
	kinds := []string{}
	for _, c := range st.Commands {
		kinds = append(kinds, c.Kind)
	}
	if got := strings.Join(kinds, " "); got != "ENV LABEL RUN RUN COPY COPY" {
		t.Fatalf("stage 0's instructions: %s", got)
	}
	env, run, heredoc, cp, cpHeredoc := st.Commands[0], st.Commands[2], st.Commands[3], st.Commands[4], st.Commands[5]
	if env.Line != 4 || env.Text != `ENV A=$BASE B="two words"` || env.ID == 0 || env.Pairs[0].Value != "$BASE" {
		t.Errorf("ENV as parsed: %+v", env)
	}
	if !run.PrependShell || run.CmdLine[0] != "echo hi" || run.HeredocOnly {
		t.Errorf("RUN: %+v", run)
	}
	if !heredoc.HeredocOnly || len(heredoc.Files) != 1 || heredoc.Files[0].Data != "echo from a heredoc\n" {
		t.Errorf("RUN <<EOF: %+v", heredoc)
	}
	if cp.Chown != "1:2" || cp.Chmod != "600" || cp.Dest != "/dst/" || strings.Join(cp.Sources, ",") != "a,b" {
		t.Errorf("COPY: %+v", cp)
	}
	if len(cpHeredoc.SourceContents) != 1 || cpHeredoc.SourceContents[0].Name != "greeting.txt" || cpHeredoc.SourceContents[0].Data != "hello\n" {
		t.Errorf("COPY <<greeting.txt: %+v", cpHeredoc)
	}
	second := f.Stages[1].Commands
	if second[0].From != "first" || second[2].Health == nil || second[2].Health.Retries != 2 || second[2].Health.Interval.Seconds() != 5 {
		t.Errorf("stage 1: %+v", second)
	}
	if e := second[3]; e.Kind != "ENTRYPOINT" || e.PrependShell || strings.Join(e.CmdLine, " ") != "sh" {
		t.Errorf("ENTRYPOINT: %+v", e)
	}

	// Expanding is BuildKit's, with the environment given, and can be
	// done again with another: the kept instruction is not rewritten.
	for _, base := range []string{"alpine", "debian"} {
		x, err := s.Expand(env, []string{"BASE=" + base})
		if err != nil {
			t.Fatal(err)
		}
		if x.Pairs[0].Value != base || x.Pairs[1].Value != "two words" || x.Text != env.Text || x.ID != env.ID {
			t.Errorf("ENV expanded with BASE=%s: %+v", base, x)
		}
	}
	wd, err := s.Expand(f.Stages[1].Commands[1], []string{"A=/opt"})
	if err != nil || wd.Value != "/opt/sub" {
		t.Errorf("WORKDIR expanded: %+v, %v", wd, err)
	}
	if _, err := s.Expand(containerfile.Instruction{ID: 999, Kind: "ENV"}, nil); err == nil {
		t.Error("expanding an instruction the helper never gave out: no error")
	}
}

func TestParseInstruction(t *testing.T) {
	s := session(t)
	in, err := s.ParseInstruction("COPY $SRC /x")
	if err != nil {
		t.Fatal(err)
	}
	x, err := s.Expand(in, []string{"SRC=a.txt"})
	if err != nil || x.Kind != "COPY" || x.Sources[0] != "a.txt" {
		t.Errorf("an ONBUILD trigger expanded: %+v, %v", x, err)
	}
	if _, err := s.ParseInstruction("RUN a\nRUN b"); err == nil {
		t.Error("two instructions where one was asked for: no error")
	}
}

func TestErrors(t *testing.T) {
	s := session(t)
	var e *containerfile.Error
	_, err := s.Parse([]byte("FROM a\nRUN --bogus x\n"))
	if !errors.As(err, &e) || !e.Syntax || e.Line != 2 || !strings.Contains(e.Msg, "--bogus") || strings.Contains(e.Msg, "line") {
		t.Errorf("an unknown flag: %#v", err)
	}
	_, err = s.Parse([]byte("FROM a\nFOO bar\n"))
	if !errors.As(err, &e) || !e.Syntax || e.Line != 2 {
		t.Errorf("an unknown instruction: %#v", err)
	}
	// A word that does not expand is not a syntax error of the file.
	f, err := s.Parse([]byte("FROM a\nWORKDIR ${X:?unset}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Expand(f.Stages[0].Commands[0], nil)
	if !errors.As(err, &e) || e.Syntax || !strings.Contains(e.Msg, "unset") {
		t.Errorf("${X:?unset} with X unset: %#v", err)
	}
	// The session goes on after errors.
	if _, err := s.Parse([]byte("FROM a\n")); err != nil {
		t.Errorf("after errors: %v", err)
	}
}

// TestKeywordCase: instructions are not case-sensitive, and Kind is in
// capitals whatever the file says.
func TestKeywordCase(t *testing.T) {
	s := session(t)
	f, err := s.Parse([]byte("from a\narg X\nrun echo hi\nCopy --from=a b c\nEnV K=v\n"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, in := range append(f.Stages[0].Commands, f.MetaArgs...) {
		kinds = append(kinds, in.Kind)
	}
	if got := strings.Join(kinds, " "); got != "ARG RUN COPY ENV" {
		t.Errorf("kinds: %s, want ARG RUN COPY ENV", got)
	}
	in, err := s.ParseInstruction("workdir /x")
	if err != nil || in.Kind != "WORKDIR" {
		t.Errorf("an ONBUILD trigger in lower case: %+v, %v", in, err)
	}
}
