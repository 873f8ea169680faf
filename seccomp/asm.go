package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// label names a place in a program under construction. Label 0 (next) is
// the instruction after the jump.
type label int32

const next label = 0

// asmItem is an instruction, a jump to labels, or the place of a label.
type asmItem struct {
	ins    bpf.Instruction // a plain instruction; nil for jumps and labels
	cond   bpf.JumpTest    // for conditional jumps (isCond)
	k      uint32
	jt, jf label
	ja     label // an unconditional jump
	mark   label // the place of a label
	isCond bool
}

// assembler collects a program whose jumps name labels. Classic BPF jumps
// only forward, and a conditional jump reaches at most 255 instructions;
// assemble turns each one that must go further into a short jump to an
// unconditional one (ja, 32-bit offset) placed right after it.
type assembler struct {
	items  []asmItem
	labels int
}

func (a *assembler) newLabel() label {
	a.labels++
	return label(a.labels)
}

func (a *assembler) mark(l label)             { a.items = append(a.items, asmItem{mark: l}) }
func (a *assembler) emit(ins bpf.Instruction) { a.items = append(a.items, asmItem{ins: ins}) }
func (a *assembler) load(off uint32)          { a.emit(bpf.LoadAbsolute{Off: off, Size: 4}) }
func (a *assembler) ret(k uint32)             { a.emit(bpf.RetConstant{Val: k}) }
func (a *assembler) jumpTo(l label)           { a.items = append(a.items, asmItem{ja: l}) }
func (a *assembler) and(k uint32)             { a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: k}) }
func (a *assembler) jump(c bpf.JumpTest, k uint32, jt, jf label) {
	a.items = append(a.items, asmItem{isCond: true, cond: c, k: k, jt: jt, jf: jf})
}

// assemble resolves the labels. Jumps are first assumed short; each pass
// makes long every conditional jump that does not reach, which moves what
// follows it, until no jump changes. Jumps only ever grow, so this ends.
func (a *assembler) assemble() ([]bpf.Instruction, error) {
	farT := make([]bool, len(a.items))
	farF := make([]bool, len(a.items))
	size := func(i int) int {
		it := a.items[i]
		switch {
		case it.mark != 0:
			return 0
		case it.isCond:
			n := 1
			if farT[i] {
				n++
			}
			if farF[i] {
				n++
			}
			return n
		}
		return 1
	}
	pcs := make([]int, len(a.items))
	at := make([]int, a.labels+1)
	for {
		pc := 0
		for i, it := range a.items {
			pcs[i] = pc
			if it.mark != 0 {
				at[it.mark] = pc
			}
			pc += size(i)
		}
		changed := false
		for i, it := range a.items {
			if !it.isCond {
				continue
			}
			after := pcs[i] + size(i)
			if !farT[i] && target(at, it.jt, after)-(pcs[i]+1) > 255 {
				farT[i], changed = true, true
			}
			if !farF[i] && target(at, it.jf, after)-(pcs[i]+1) > 255 {
				farF[i], changed = true, true
			}
		}
		if !changed {
			break
		}
	}

	var out []bpf.Instruction
	for i, it := range a.items {
		pc, after := pcs[i], pcs[i]+size(i)
		switch {
		case it.mark != 0:
		case it.ins != nil:
			out = append(out, it.ins)
		case it.isCond:
			// The long form: jt and jf lead to the ja instructions
			// that follow, in that order.
			var longs []label
			skip := func(l label, far bool) (uint8, error) {
				if far {
					longs = append(longs, l)
					return uint8(len(longs) - 1), nil
				}
				d := target(at, l, after) - (pc + 1)
				if d < 0 || d > 255 {
					return 0, fmt.Errorf("internal error: jump of %d instructions at %d", d, pc)
				}
				return uint8(d), nil
			}
			st, err := skip(it.jt, farT[i])
			if err != nil {
				return nil, err
			}
			sf, err := skip(it.jf, farF[i])
			if err != nil {
				return nil, err
			}
			out = append(out, bpf.JumpIf{Cond: it.cond, Val: it.k, SkipTrue: st, SkipFalse: sf})
			for j, l := range longs {
				d := target(at, l, after) - (pc + 1 + j + 1)
				if d < 0 {
					return nil, fmt.Errorf("internal error: backward jump at %d", pc)
				}
				out = append(out, bpf.Jump{Skip: uint32(d)})
			}
		default:
			d := target(at, it.ja, after) - (pc + 1)
			if d < 0 {
				return nil, fmt.Errorf("internal error: backward jump at %d", pc)
			}
			out = append(out, bpf.Jump{Skip: uint32(d)})
		}
	}
	return out, nil
}

func target(at []int, l label, after int) int {
	if l == next {
		return after
	}
	return at[l]
}
