package seccomp

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxInstructions is the longest filter the kernel loads.
const maxInstructions = unix.BPF_MAXINSNS

// Program is a compiled filter: struct sock_filter entries in native
// layout, ready for seccomp(SECCOMP_SET_MODE_FILTER). Flags are the
// SECCOMP_FILTER_FLAG_* to pass with it.
type Program struct {
	Instructions []unix.SockFilter
	Flags        uint
}

// Bytes returns the raw sock_filter array (8 bytes an instruction, in the
// host's byte order), as sent to the container's init.
func (p *Program) Bytes() []byte {
	b := make([]byte, 0, 8*len(p.Instructions))
	for _, ins := range p.Instructions {
		b = binary.NativeEndian.AppendUint16(b, ins.Code)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.NativeEndian.AppendUint32(b, ins.K)
	}
	return b
}

// FromBytes is the inverse of Bytes.
func FromBytes(b []byte) ([]unix.SockFilter, error) {
	if len(b) == 0 || len(b)%8 != 0 || len(b)/8 > maxInstructions {
		return nil, fmt.Errorf("a seccomp filter of %d bytes: want 8 bytes per instruction, 1 to %d instructions", len(b), maxInstructions)
	}
	out := make([]unix.SockFilter, len(b)/8)
	for i := range out {
		e := b[8*i:]
		out[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(e), Jt: e[2], Jf: e[3], K: binary.NativeEndian.Uint32(e[4:])}
	}
	return out, nil
}

// rule is a profile rule checked and with its action's return value.
type rule struct {
	names  []string
	action uint32
	args   []specs.LinuxSeccompArg
}

// cond is one argument comparison as emitted for one architecture: wide
// compares 64 bits, otherwise only the low word is compared.
type cond struct {
	index         uint
	op            specs.LinuxSeccompOperator
	value, value2 uint64
	wide          bool
}

// check is one rule of a verdict: when all conds hold, return action.
type check struct {
	conds  []cond
	action uint32
}

// verdict is what the filter does for one syscall number: the checks in
// order, then final. key tells verdicts with checks apart ("" without).
type verdict struct {
	checks []check
	final  uint32
	key    string
}

func (v *verdict) same(w *verdict) bool {
	return v.final == w.final && v.key == w.key
}

// span is a range of syscall numbers with one verdict.
type span struct {
	lo, hi uint32
	v      verdict
}

// Compile turns a profile (nil: allow everything) and rules that take
// precedence over it (first, e.g. FakeRoot()) into a Program. A nil
// profile without rules needs no filter: it returns nil, nil.
//
// The program dispatches on seccomp_data.arch, sending architectures the
// profile does not name to SECCOMP_RET_KILL_PROCESS (libseccomp's bad-arch
// action), then finds the syscall number by a binary search over ranges of
// numbers that get the same verdict. Calls numbered above every call the
// rules name on an architecture get ENOSYS when the default action refuses,
// as in runc, so that libc falls back from calls newer than the profile.
func Compile(p *specs.LinuxSeccomp, first []specs.LinuxSyscall) (*Program, error) {
	if p == nil {
		if len(first) == 0 {
			return nil, nil
		}
		p = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: compatArches()}
	}
	if err := checkProfile(p); err != nil {
		return nil, err
	}
	def, _ := actionValue(p.DefaultAction, p.DefaultErrnoRet)
	flags, _ := filterFlags(p.Flags)

	var rules []rule
	add := func(what string, rs []specs.LinuxSyscall) error {
		for i := range rs {
			r := &rs[i]
			if err := checkRule(r); err != nil {
				return fmt.Errorf("%s: %w", ruleName(what, i, r), err)
			}
			act, _ := actionValue(r.Action, r.ErrnoRet)
			rules = append(rules, rule{names: r.Names, action: act, args: r.Args})
		}
		return nil
	}
	if err := add("rule", first); err != nil {
		return nil, err
	}
	if err := add("syscalls", p.Syscalls); err != nil {
		return nil, err
	}

	archs, err := profileArches(p.Architectures)
	if err != nil {
		return nil, err
	}
	if err := someKnown(rules[len(first):], archs); err != nil {
		return nil, err
	}

	c := &compiler{def: def, blocks: map[string]label{}, uses: map[string]int{}, pool: map[uint32]label{}}
	c.asm.items = make([]asmItem, 0, 2048)
	spans := make(map[*archInfo][]span)
	for _, a := range archs {
		spans[a] = c.spans(a, rules)
	}
	ins, err := c.program(archs, spans)
	if err != nil {
		return nil, err
	}
	if len(ins) > maxInstructions {
		return nil, fmt.Errorf("the filter has %d instructions, more than the %d the kernel loads", len(ins), maxInstructions)
	}
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, fmt.Errorf("internal error: assembling the filter: %w", err)
	}
	prog := &Program{Instructions: make([]unix.SockFilter, len(raw)), Flags: flags}
	for i, r := range raw {
		prog.Instructions[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return prog, nil
}

// profileArches resolves a profile's architectures: always the native one
// (a libseccomp filter always has it), then those listed that we have a
// table for, without repeats. Others are ignored, as they could not run
// here anyway.
func profileArches(list []specs.Arch) ([]*archInfo, error) {
	native := nativeArch()
	if native == nil {
		return nil, errors.New("sandbox has no syscall table for this machine's architecture")
	}
	out := []*archInfo{native}
	for _, name := range list {
		if a := archByName(name); a != nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// someKnown refuses a profile of which no syscall is known anywhere: it
// is most likely not meant for this machine. Unknown names
// otherwise are skipped, as runc does, because profiles list calls of
// every architecture and kernel.
func someKnown(rules []rule, archs []*archInfo) error {
	n := 0
	for _, r := range rules {
		for _, name := range r.names {
			n++
			for _, a := range archs {
				if _, ok := a.lookup(name); ok {
					return nil
				}
			}
		}
	}
	if n == 0 {
		return nil
	}
	var names []string
	for _, a := range archs {
		names = append(names, string(a.name))
	}
	return fmt.Errorf("none of the %d syscalls the profile names is known on %s", n, strings.Join(names, ", "))
}

type compiler struct {
	asm     assembler
	def     uint32
	blocks  map[string]label // shared verdict blocks by key
	uses    map[string]int   // how many spans jump to each block
	order   []*verdict       // shared blocks in the order they were made
	orderAt []label          // and their labels
	// The search's returns not yet placed (pooled), by value, in the
	// order first asked for, and the item of the first jump to one.
	pool      map[uint32]label
	poolOrder []uint32
	poolFrom  int
}

// spans works out the verdict of every syscall number on one
// architecture and returns the ranges of equal verdicts, covering 0 to
// 2^32-1.
func (c *compiler) spans(a *archInfo, rules []rule) []span {
	// Which rules name which numbers, by number, each in rule order.
	type use struct {
		nr   uint32
		rule int
	}
	var uses []use
	for i, r := range rules {
		for _, name := range r.names {
			if nr, ok := a.lookup(name); ok {
				uses = append(uses, use{nr, i})
			}
		}
	}
	slices.SortFunc(uses, func(x, y use) int {
		if x.nr != y.nr {
			return cmp.Compare(x.nr, y.nr)
		}
		return cmp.Compare(x.rule, y.rule)
	})

	defV := verdict{final: c.def}
	out := make([]span, 0, len(uses)/2)
	appendSpan := func(lo, hi uint32, v verdict) {
		if n := len(out); n > 0 && out[n-1].v.same(&v) && out[n-1].hi+1 == lo {
			out[n-1].hi = hi
			return
		}
		out = append(out, span{lo: lo, hi: hi, v: v})
	}
	var lo uint64
	var idx []int
	for i, u := range uses {
		if len(idx) == 0 || idx[len(idx)-1] != u.rule {
			idx = append(idx, u.rule)
		}
		if i+1 < len(uses) && uses[i+1].nr == u.nr {
			continue
		}
		if uint64(u.nr) > lo {
			appendSpan(uint32(lo), u.nr-1, defV)
		}
		appendSpan(u.nr, u.nr, c.verdict(a, rules, idx))
		lo = uint64(u.nr) + 1
		idx = idx[:0]
	}
	if lo <= math.MaxUint32 {
		rest := defV
		if len(uses) > 0 && !allowsAll(c.def) {
			rest = verdict{final: retErrno | uint32(unix.ENOSYS)}
		}
		appendSpan(uint32(lo), math.MaxUint32, rest)
	}
	return out
}

// verdict is what the rules say for one syscall: the first rule whose
// conditions all hold decides; when none does, the default action.
func (c *compiler) verdict(a *archInfo, rules []rule, idx []int) verdict {
	v := verdict{final: c.def}
	for _, i := range idx {
		r := rules[i]
		conds, ok := specialize(r.args, a.wide)
		if !ok {
			continue // can never match here
		}
		if len(conds) == 0 {
			v.final = r.action
			break
		}
		v.checks = append(v.checks, check{conds: conds, action: r.action})
	}
	// A last check that returns what falling through returns is moot.
	for n := len(v.checks); n > 0 && v.checks[n-1].action == v.final; n-- {
		v.checks = v.checks[:n-1]
	}
	if len(v.checks) > 0 {
		v.key = checksKey(v.checks)
	}
	return v
}

// checksKey spells out checks, so that ranges and blocks with the same
// can be merged.
func checksKey(checks []check) string {
	var b []byte
	for _, ch := range checks {
		for _, c := range ch.conds {
			b = strconv.AppendUint(b, uint64(c.index), 10)
			b = append(b, c.op...)
			b = strconv.AppendUint(b, c.value, 16)
			b = append(b, ',')
			b = strconv.AppendUint(b, c.value2, 16)
			b = strconv.AppendBool(b, c.wide)
			b = append(b, '&')
		}
		b = append(b, '>')
		b = strconv.AppendUint(b, uint64(ch.action), 16)
		b = append(b, ';')
	}
	return string(b)
}

// specialize prepares a rule's conditions for one architecture. It drops
// those that always hold, and reports false when one never does: on a
// 32-bit architecture the argument has no high word, so comparing it
// with a value that needs one is decided in advance.
func specialize(args []specs.LinuxSeccompArg, wide bool) ([]cond, bool) {
	var out []cond
	for _, a := range args {
		c := cond{index: a.Index, op: a.Op, value: a.Value, value2: a.ValueTwo, wide: wide}
		width := uint64(math.MaxUint64)
		if !wide {
			width = math.MaxUint32
		}
		switch a.Op {
		case specs.OpMaskedEqual:
			c.value &= width
			if c.value2&^c.value != 0 {
				return nil, false // bits the mask clears cannot be set
			}
			if c.value == 0 {
				continue // anything & 0 == 0
			}
		default:
			if a.Value > width {
				switch a.Op {
				case specs.OpEqualTo, specs.OpGreaterThan, specs.OpGreaterEqual:
					return nil, false
				}
				continue // NE, LT, LE hold for any 32-bit value
			}
			switch {
			case a.Op == specs.OpGreaterEqual && a.Value == 0,
				a.Op == specs.OpLessEqual && a.Value == width:
				continue
			case a.Op == specs.OpLessThan && a.Value == 0,
				a.Op == specs.OpGreaterThan && a.Value == width:
				return nil, false
			}
		}
		out = append(out, c)
	}
	return out, true
}
