package seccomp

import (
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestLongJumps checks jumps past the 255 instructions a conditional
// jump reaches, on either branch or both. The program is
//
//	load nr; jeq 7, T, F; pad1 × ret 99; first: ...; pad2 × ret 98; second: ...
//
// with T and F in either order.
func TestLongJumps(t *testing.T) {
	for _, c := range []struct {
		name       string
		trueFirst  bool
		pad1, pad2 int
		longs      int
	}{
		{"near", true, 10, 10, 0},
		{"far false", true, 10, 300, 1},
		{"far true", false, 10, 300, 1},
		{"both far", true, 300, 10, 2},
		{"both far, false first", false, 300, 10, 2},
	} {
		var a assembler
		lt, lf := a.newLabel(), a.newLabel()
		first, second := lt, lf
		if !c.trueFirst {
			first, second = lf, lt
		}
		a.load(offNr)
		a.jump(bpf.JumpEqual, 7, lt, lf)
		for range c.pad1 {
			a.ret(99)
		}
		a.mark(first)
		a.ret(uint32(first))
		for range c.pad2 {
			a.ret(98)
		}
		a.mark(second)
		a.ret(uint32(second))

		ins, err := a.assemble()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		longs := 0
		for _, i := range ins {
			if _, ok := i.(bpf.Jump); ok {
				longs++
			}
		}
		if longs != c.longs {
			t.Errorf("%s: %d long jumps, want %d", c.name, longs, c.longs)
		}
		raw, err := bpf.Assemble(ins)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		p := &Program{}
		for _, r := range raw {
			p.Instructions = append(p.Instructions, unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K})
		}
		if got, _ := run(t, p, call{nr: 7}); got != uint32(lt) {
			t.Errorf("%s: the true branch returns %d", c.name, got)
		}
		if got, _ := run(t, p, call{nr: 8}); got != uint32(lf) {
			t.Errorf("%s: the false branch returns %d", c.name, got)
		}
	}
}
