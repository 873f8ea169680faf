package containerfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The operations a Request asks for.
const (
	// OpParse parses Data as a whole Containerfile: Reply.File.
	OpParse = "parse"
	// OpExpand expands the variables of instruction ID with Env:
	// Reply.Instruction.
	OpExpand = "expand"
	// OpParseInstruction parses Data as one instruction (an ONBUILD
	// trigger of a base image): Reply.Instruction, which has an ID.
	OpParseInstruction = "parse-instruction"
)

// Request is one line to the helper.
type Request struct {
	Op   string   `json:"op"`
	Data string   `json:"data,omitempty"`
	ID   int      `json:"id,omitempty"`
	Env  []string `json:"env,omitempty"`
}

// Reply is the helper's answer to one Request: a result or an error.
type Reply struct {
	File        *File        `json:"file,omitempty"`
	Instruction *Instruction `json:"instruction,omitempty"`
	Error       *Error       `json:"error,omitempty"`
}

// Error is what the helper refused, with the line it concerns where the
// parser knows it (0: none). Syntax says the file (or instruction) does
// not parse, as opposed to a word that does not expand.
type Error struct {
	Msg    string `json:"msg"`
	Line   int    `json:"line,omitempty"`
	Syntax bool   `json:"syntax,omitempty"`
}

func (e *Error) Error() string { return e.Msg }

// ErrClosed is a Session's error once its helper has gone.
var ErrClosed = errors.New("the Containerfile parser has exited")

// Session is a conversation with the helper, one request at a time.
type Session struct {
	enc *json.Encoder
	dec *json.Decoder
}

// NewSession talks to a helper that reads requests from w's other end and
// writes replies to r's.
func NewSession(w io.Writer, r io.Reader) *Session {
	return &Session{enc: json.NewEncoder(w), dec: json.NewDecoder(bufio.NewReader(r))}
}

func (s *Session) call(req Request) (*Reply, error) {
	if err := s.enc.Encode(req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClosed, err)
	}
	var rep Reply
	if err := s.dec.Decode(&rep); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("reading the Containerfile parser's reply: %w", err)
	}
	if rep.Error != nil {
		return nil, rep.Error
	}
	return &rep, nil
}

// Parse parses a whole Containerfile.
func (s *Session) Parse(data []byte) (*File, error) {
	rep, err := s.call(Request{Op: OpParse, Data: string(data)})
	if err != nil {
		return nil, err
	}
	if rep.File == nil {
		return nil, errors.New("the Containerfile parser sent no file")
	}
	return rep.File, nil
}

// Expand is instruction in with its variables replaced from env
// (KEY=VALUE), as BuildKit expands each kind of instruction. One without
// an ID has nothing to expand and comes back as it is.
func (s *Session) Expand(in Instruction, env []string) (Instruction, error) {
	if in.ID == 0 {
		return in, nil
	}
	rep, err := s.call(Request{Op: OpExpand, ID: in.ID, Env: env})
	if err != nil {
		return in, err
	}
	if rep.Instruction == nil {
		return in, errors.New("the Containerfile parser sent no instruction")
	}
	return *rep.Instruction, nil
}

// ParseInstruction parses one instruction, such as an ONBUILD trigger.
func (s *Session) ParseInstruction(line string) (Instruction, error) {
	rep, err := s.call(Request{Op: OpParseInstruction, Data: line})
	if err != nil {
		return Instruction{}, err
	}
	if rep.Instruction == nil {
		return Instruction{}, errors.New("the Containerfile parser sent no instruction")
	}
	return *rep.Instruction, nil
}
