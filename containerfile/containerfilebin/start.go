package containerfilebin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/sandbox-dev/sandbox/containerfile"
	"github.com/sandbox-dev/sandbox/program"
)

var blob = program.Blob{Name: "containerfile", Program: "sandbox-containerfile", Gzipped: gzipped, Digest: Digest}

// Parser is a running parser program and the session with it.
type Parser struct {
	*containerfile.Session
	stdin  io.Closer
	stdout io.Closer
	stderr bytes.Buffer
	wait   func() error
	// closed: Close has waited for the program, which ended with
	// closeErr.
	closed   bool
	closeErr error
}

// Start runs the parser program (installed in dir, the user's private
// runtime directory, once per version; "": from a memfd) for one build.
// Where no program is carried (other architectures than amd64), the
// parser runs in this process instead: that build links it.
func Start(dir string) (*Parser, error) {
	if !blob.Available() {
		return startInProcess(), nil
	}
	f, err := blob.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer f.Close()
	p := &Parser{}
	cmd := blob.Command(f)
	cmd.Stderr = &p.stderr
	// Its own process group: a Ctrl-C at the terminal is for the build's
	// RUN step (which the CLI forwards it to), not for the parser, which
	// must answer the steps after it. It ends when its stdin does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		in.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("build: starting the Containerfile parser: %w", err)
	}
	p.Session = containerfile.NewSession(in, out)
	p.stdin, p.stdout, p.wait = in, out, cmd.Wait
	return p, nil
}

// startInProcess runs the parser in a goroutine of this process, behind
// the same session.
func startInProcess() *Parser {
	reqR, reqW := io.Pipe()
	repR, repW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := serveInProcess(reqR, repW)
		repW.CloseWithError(io.EOF)
		reqR.Close()
		done <- err
	}()
	p := &Parser{Session: containerfile.NewSession(reqW, repR), stdin: reqW, stdout: repR}
	p.wait = func() error { return <-done }
	return p
}

// Parse is Session.Parse, with the program's own words if it has died.
func (p *Parser) Parse(data []byte) (*containerfile.File, error) {
	f, err := p.Session.Parse(data)
	return f, p.explain(err)
}

// Expand is Session.Expand, with the program's own words if it has died.
func (p *Parser) Expand(in containerfile.Instruction, env []string) (containerfile.Instruction, error) {
	out, err := p.Session.Expand(in, env)
	return out, p.explain(err)
}

// ParseInstruction is Session.ParseInstruction, with the program's own
// words if it has died.
func (p *Parser) ParseInstruction(line string) (containerfile.Instruction, error) {
	in, err := p.Session.ParseInstruction(line)
	return in, p.explain(err)
}

// explain replaces a session's ErrClosed by why the program ended.
func (p *Parser) explain(err error) error {
	if !errors.Is(err, containerfile.ErrClosed) {
		return err
	}
	if cerr := p.Close(); cerr != nil {
		return cerr
	}
	return fmt.Errorf("build: %w", err)
}

// Close ends the session and waits for the program; its error carries
// what the program said, if it failed.
func (p *Parser) Close() error {
	if p.closed {
		return p.closeErr
	}
	p.closed = true
	p.stdin.Close()
	// Unread replies must not keep it blocked on a full pipe.
	p.stdout.Close()
	p.closeErr = p.waitErr()
	return p.closeErr
}

func (p *Parser) waitErr() error {
	if err := p.wait(); err != nil {
		if msg := strings.TrimSpace(p.stderr.String()); msg != "" {
			return fmt.Errorf("build: the Containerfile parser: %s", msg)
		}
		return fmt.Errorf("build: the Containerfile parser: %w", err)
	}
	return nil
}
