package containerfile

import "time"

// File is a parsed Containerfile.
type File struct {
	// Escape is the escape character (the escape= directive; \ by
	// default), for expanding words as the file's shell does.
	Escape rune `json:"escape"`
	// Syntax is the syntax= directive's value, if the file has one.
	Syntax   string    `json:"syntax,omitempty"`
	Warnings []Warning `json:"warnings,omitempty"`
	// MetaArgs are the ARG instructions before the first FROM.
	MetaArgs []Instruction `json:"metaArgs,omitempty"`
	Stages   []Stage       `json:"stages"`
}

// Warning is what the parser says about a line it accepted.
type Warning struct {
	Line  int    `json:"line"`
	Short string `json:"short"`
}

// Stage is a FROM and the instructions after it.
type Stage struct {
	Name       string        `json:"name,omitempty"` // FROM ... AS NAME
	BaseName   string        `json:"baseName"`       // unexpanded
	Platform   string        `json:"platform,omitempty"`
	SourceCode string        `json:"sourceCode"` // the FROM line as written
	Line       int           `json:"line"`
	Commands   []Instruction `json:"commands"`
}

// Instruction is one instruction: its Kind says which of the fields
// below it uses. Words are as written until the helper expands them
// (Session.Expand).
type Instruction struct {
	// ID is the helper's handle on it, for Expand; 0 for one BuildKit
	// does not expand (ARG, whose words the builder expands itself).
	ID int `json:"id,omitempty"`
	// Kind is the instruction's keyword in capitals, however it was
	// written: "RUN", "COPY", ...
	Kind string `json:"kind"`
	// Text is the instruction as written.
	Text string `json:"text"`
	Line int    `json:"line"`

	// ARG.
	Args []Arg `json:"args,omitempty"`
	// ENV and LABEL.
	Pairs []KeyValue `json:"pairs,omitempty"`

	// RUN, CMD and ENTRYPOINT: the exec form, or (PrependShell) the shell
	// form's words.
	CmdLine      []string `json:"cmdLine,omitempty"`
	PrependShell bool     `json:"prependShell,omitempty"`
	// Files are RUN's heredocs.
	Files []Heredoc `json:"files,omitempty"`
	// HeredocOnly: RUN's command line is one heredoc and nothing else,
	// so its body is the script.
	HeredocOnly bool `json:"heredocOnly,omitempty"`
	// FlagsUsed are RUN's flags (--mount, --network, ...).
	FlagsUsed []string `json:"flagsUsed,omitempty"`

	// COPY and ADD.
	Sources        []string  `json:"sources,omitempty"`
	SourceContents []Heredoc `json:"sourceContents,omitempty"`
	Dest           string    `json:"dest,omitempty"`
	From           string    `json:"from,omitempty"`
	Chown          string    `json:"chown,omitempty"`
	Chmod          string    `json:"chmod,omitempty"`
	Link           bool      `json:"link,omitempty"`
	Parents        bool      `json:"parents,omitempty"`
	Exclude        []string  `json:"exclude,omitempty"`
	Checksum       string    `json:"checksum,omitempty"`

	// WORKDIR, USER, STOPSIGNAL, ONBUILD and MAINTAINER: the one word.
	Value string `json:"value,omitempty"`
	// EXPOSE's ports, VOLUME's paths, SHELL's argv.
	Words []string `json:"words,omitempty"`
	// HEALTHCHECK.
	Health *Health `json:"health,omitempty"`
}

// KeyValue is an ENV or LABEL pair.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Arg is an ARG's name and its default (nil: none).
type Arg struct {
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
}

// Heredoc is a here-document: RUN's (Name is its terminator) or the
// content of a file COPY makes (Name is its path).
type Heredoc struct {
	Name   string `json:"name"`
	Data   string `json:"data"`
	Expand bool   `json:"expand,omitempty"`
}

// Health is HEALTHCHECK's configuration, as an image config keeps it.
type Health struct {
	Test          []string      `json:"test,omitempty"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"startPeriod,omitempty"`
	StartInterval time.Duration `json:"startInterval,omitempty"`
	Retries       int           `json:"retries,omitempty"`
}
