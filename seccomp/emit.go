package seccomp

import (
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// archGroup is the architectures that share one audit arch: x86_64 and
// x32 do, told apart by __X32_SYSCALL_BIT in the syscall number.
type archGroup struct {
	audit       uint32
	at          label
	native, x32 *archInfo
}

// program lays out the filter:
//
//	load arch; one jeq per audit arch; ret KILL_PROCESS
//	per audit arch: load nr; [x86_64: split off x32]; binary search
//	shared verdicts (argument checks used by several ranges)
func (c *compiler) program(archs []*archInfo, spans map[*archInfo][]span) ([]bpf.Instruction, error) {
	a := &c.asm
	var groups []*archGroup
	for _, ar := range archs {
		for _, s := range spans[ar] {
			if s.v.key != "" {
				c.uses[s.v.key]++
			}
		}
		var g *archGroup
		for _, e := range groups {
			if e.audit == ar.audit {
				g = e
			}
		}
		if g == nil {
			g = &archGroup{audit: ar.audit, at: a.newLabel()}
			groups = append(groups, g)
		}
		if ar.isX32() {
			g.x32 = ar
		} else {
			g.native = ar
		}
	}

	a.load(offArch)
	for _, g := range groups {
		a.jump(bpf.JumpEqual, g.audit, g.at, next)
	}
	a.ret(retKillProcess)
	for _, g := range groups {
		a.mark(g.at)
		a.load(offNr)
		if g.audit == unix.AUDIT_ARCH_X86_64 {
			// Numbers with __X32_SYSCALL_BIT are x32 calls, except -1
			// (no syscall, as a tracer may set it), which libseccomp
			// leaves to x86_64.
			low := a.newLabel()
			a.jump(bpf.JumpGreaterOrEqual, x32SyscallBit, next, low)
			a.jump(bpf.JumpEqual, 0xffffffff, low, next)
			if g.x32 != nil {
				c.search(spans[g.x32])
			} else {
				a.ret(retKillProcess)
			}
			c.flushPool(true)
			a.mark(low)
		}
		if g.native != nil {
			c.search(spans[g.native])
		} else {
			a.ret(retKillProcess)
		}
		c.flushPool(true)
	}
	for i, v := range c.order {
		a.mark(c.orderAt[i])
		c.emitVerdict(v)
	}
	return a.assemble()
}

// search emits a balanced binary search over spans, which are sorted and
// cover every number: each level halves them with one jge. A half that is
// one span returning a constant is not emitted: the jge jumps to a return
// of the pool (pooled) instead.
func (c *compiler) search(s []span) {
	if len(s) == 1 {
		c.leaf(s[0])
		return
	}
	mid := len(s) / 2
	left, right := s[:mid], s[mid:]
	jt, jf := c.asm.newLabel(), next
	leftPooled, rightPooled := false, false
	if l, ok := c.pooled(left); ok {
		jf, leftPooled = l, true
	}
	if l, ok := c.pooled(right); ok {
		jt, rightPooled = l, true
	}
	c.asm.jump(bpf.JumpGreaterOrEqual, right[0].lo, jt, jf)
	if !leftPooled {
		c.search(left)
	}
	if !rightPooled {
		// Nothing falls through to here: what was emitted since the
		// jge ends in a return or a jump, or the jge jumps both ways.
		c.flushPool(false)
		c.asm.mark(jt)
		c.search(right)
	}
}

// poolReach is how many items after its first jump a pool's returns are
// placed, once a right half begins (the only place where nothing falls
// through): a conditional jump reaches 255 instructions. A search whose
// left halves are long can place them further; such a jump costs an
// unconditional one more, which the assembler adds (assemble).
const poolReach = 200

// pooled returns the label of the pool's return for s when s is one span
// that returns a constant. The filter's returns are a handful of values
// (allow, EPERM, ENOSYS), so the leaves of the search share them instead
// of each having its own: the kernel converts and compiles every
// instruction of the filter at each container's start (0.4–0.5 ms for
// Docker's profile here, most of it the JIT), so fewer instructions
// start a container sooner.
func (c *compiler) pooled(s []span) (label, bool) {
	if len(s) != 1 || s[0].v.key != "" {
		return 0, false
	}
	v := s[0].v.final
	if l, ok := c.pool[v]; ok {
		return l, true
	}
	if len(c.pool) == 0 {
		c.poolFrom = len(c.asm.items)
	}
	l := c.asm.newLabel()
	c.pool[v] = l
	c.poolOrder = append(c.poolOrder, v)
	return l, true
}

// flushPool places the pool's returns here, where nothing falls through:
// always with all set, else only when the first jump to them would soon
// be out of a conditional jump's reach.
func (c *compiler) flushPool(all bool) {
	if len(c.pool) == 0 || (!all && len(c.asm.items)-c.poolFrom < poolReach) {
		return
	}
	for _, v := range c.poolOrder {
		c.asm.mark(c.pool[v])
		c.asm.ret(v)
	}
	clear(c.pool)
	c.poolOrder = c.poolOrder[:0]
}

// leaf emits a span's verdict: a return, or its argument checks, inline
// when no other span has the same, else as a jump to a shared block.
func (c *compiler) leaf(s span) {
	if s.v.key == "" {
		c.asm.ret(s.v.final)
		return
	}
	if c.uses[s.v.key] == 1 {
		c.emitVerdict(&s.v)
		return
	}
	l, ok := c.blocks[s.v.key]
	if !ok {
		l = c.asm.newLabel()
		c.blocks[s.v.key] = l
		c.order = append(c.order, &s.v)
		c.orderAt = append(c.orderAt, l)
	}
	c.asm.jumpTo(l)
}

// emitVerdict emits checks tried in order, the first that holds deciding.
func (c *compiler) emitVerdict(v *verdict) {
	for i := 0; i < len(v.checks); {
		if n := eqRun(v.checks[i:]); n > 1 {
			c.eqSet(v.checks[i : i+n])
			i += n
			continue
		}
		ch := v.checks[i]
		fail := c.asm.newLabel()
		for _, cd := range ch.conds {
			c.cond(cd, fail)
		}
		c.asm.ret(ch.action)
		c.asm.mark(fail)
		i++
	}
	c.asm.ret(v.final)
}

// eqRun counts the checks at the start of cs that each test one argument
// for equality and return the same: Docker's rules for socket (one per
// address family) and personality are such runs.
func eqRun(cs []check) int {
	n := 0
	for _, ch := range cs {
		if len(ch.conds) != 1 || ch.conds[0].op != specs.OpEqualTo || ch.action != cs[0].action {
			break
		}
		c, c0 := ch.conds[0], cs[0].conds[0]
		if c.index != c0.index || c.wide != c0.wide || (c.wide && c.value>>32 != c0.value>>32) {
			break
		}
		n++
	}
	return n
}

// eqSet emits a run of eqRun as one set test: the argument is loaded
// once and compared with each value in turn.
func (c *compiler) eqSet(cs []check) {
	a := &c.asm
	first := cs[0].conds[0]
	lo, hi := argOffsets(first.index)
	hit, fail := a.newLabel(), a.newLabel()
	if first.wide {
		a.load(hi)
		a.jump(bpf.JumpEqual, uint32(first.value>>32), next, fail)
	}
	a.load(lo)
	for i, ch := range cs {
		miss := next
		if i == len(cs)-1 {
			miss = fail
		}
		a.jump(bpf.JumpEqual, uint32(ch.conds[0].value), hit, miss)
	}
	a.mark(hit)
	a.ret(cs[0].action)
	a.mark(fail)
}

// cond emits one argument comparison, falling through when it holds and
// jumping to fail when not. On 64-bit architectures the high words decide
// unless they are equal; the comparisons are unsigned, as in libseccomp.
func (c *compiler) cond(cd cond, fail label) {
	a := &c.asm
	lo, hi := argOffsets(cd.index)
	vlo, vhi := uint32(cd.value), uint32(cd.value>>32)
	dlo, dhi := uint32(cd.value2), uint32(cd.value2>>32)
	if !cd.wide {
		a.load(lo)
		switch cd.op {
		case specs.OpEqualTo:
			a.jump(bpf.JumpEqual, vlo, next, fail)
		case specs.OpNotEqual:
			a.jump(bpf.JumpEqual, vlo, fail, next)
		case specs.OpGreaterThan:
			a.jump(bpf.JumpGreaterThan, vlo, next, fail)
		case specs.OpGreaterEqual:
			a.jump(bpf.JumpGreaterOrEqual, vlo, next, fail)
		case specs.OpLessThan:
			a.jump(bpf.JumpGreaterOrEqual, vlo, fail, next)
		case specs.OpLessEqual:
			a.jump(bpf.JumpGreaterThan, vlo, fail, next)
		case specs.OpMaskedEqual:
			c.masked(vlo, dlo, fail)
		}
		return
	}
	pass := a.newLabel()
	switch cd.op {
	case specs.OpEqualTo:
		a.load(hi)
		a.jump(bpf.JumpEqual, vhi, next, fail)
		a.load(lo)
		a.jump(bpf.JumpEqual, vlo, next, fail)
	case specs.OpNotEqual:
		a.load(hi)
		a.jump(bpf.JumpEqual, vhi, next, pass)
		a.load(lo)
		a.jump(bpf.JumpEqual, vlo, fail, next)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		a.load(hi)
		a.jump(bpf.JumpGreaterThan, vhi, pass, next)
		a.jump(bpf.JumpEqual, vhi, next, fail)
		a.load(lo)
		if cd.op == specs.OpGreaterThan {
			a.jump(bpf.JumpGreaterThan, vlo, next, fail)
		} else {
			a.jump(bpf.JumpGreaterOrEqual, vlo, next, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		a.load(hi)
		a.jump(bpf.JumpGreaterThan, vhi, fail, next)
		a.jump(bpf.JumpEqual, vhi, next, pass)
		a.load(lo)
		if cd.op == specs.OpLessThan {
			a.jump(bpf.JumpGreaterOrEqual, vlo, fail, next)
		} else {
			a.jump(bpf.JumpGreaterThan, vlo, fail, next)
		}
	case specs.OpMaskedEqual:
		// A word the mask clears entirely holds (specialize made sure
		// the value has no bits there).
		if vhi != 0 {
			a.load(hi)
			c.masked(vhi, dhi, fail)
		}
		if vlo != 0 {
			a.load(lo)
			c.masked(vlo, dlo, fail)
		}
	}
	a.mark(pass)
}

// masked tests (A & mask) == want.
func (c *compiler) masked(mask, want uint32, fail label) {
	if mask != 0xffffffff {
		c.asm.and(mask)
	}
	c.asm.jump(bpf.JumpEqual, want, next, fail)
}
