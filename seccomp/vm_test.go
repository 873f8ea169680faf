package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// call is one syscall as a filter sees it.
type call struct {
	audit uint32
	nr    uint32
	args  [6]uint64
}

// kernelData is struct seccomp_data as the kernel lays it out: native
// byte order, 64-bit arguments.
func (c call) kernelData() []byte {
	b := make([]byte, 64)
	binary.NativeEndian.PutUint32(b[0:], c.nr)
	binary.NativeEndian.PutUint32(b[4:], c.audit)
	for i, a := range c.args {
		binary.NativeEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// vmData is the same for x/net/bpf's VM, which loads words big-endian as
// in packets: each 32-bit word at the offset the filter reads it from,
// in big-endian order.
func (c call) vmData() []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], c.nr)
	binary.BigEndian.PutUint32(b[offArch:], c.audit)
	for i, a := range c.args {
		lo, hi := argOffsets(uint(i))
		binary.BigEndian.PutUint32(b[lo:], uint32(a))
		binary.BigEndian.PutUint32(b[hi:], uint32(a>>32))
	}
	return b
}

// run runs p on c twice, in x/net/bpf's VM and in interpret (which reads
// seccomp_data as the kernel does), fails the test when they disagree,
// and returns the result and how many instructions ran.
func run(t *testing.T, p *Program, c call) (uint32, int) {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(p.Instructions))
	for i, ins := range p.Instructions {
		raw[i] = bpf.RawInstruction{Op: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("the program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vm.Run(c.vmData())
	if err != nil {
		t.Fatal(err)
	}
	mine, steps, err := interpret(p.Instructions, c.kernelData())
	if err != nil {
		t.Fatal(err)
	}
	if uint32(got) != mine {
		t.Fatalf("nr %#x arch %#x: the VM returns %#x, the kernel-layout interpreter %#x", c.nr, c.audit, uint32(got), mine)
	}
	return mine, steps
}

// interpret runs the instructions the compiler emits the way the kernel
// does (native-endian loads of seccomp_data), counting them.
func interpret(prog []unix.SockFilter, data []byte) (ret uint32, steps int, err error) {
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		steps++
		ins := prog[pc]
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.NativeEndian.Uint32(data[ins.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= ins.K
		case unix.BPF_RET | unix.BPF_K:
			return ins.K, steps, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(ins.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var ok bool
			switch ins.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				ok = a == ins.K
			case unix.BPF_JGT:
				ok = a > ins.K
			case unix.BPF_JGE:
				ok = a >= ins.K
			case unix.BPF_JSET:
				ok = a&ins.K != 0
			}
			if ok {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		default:
			return 0, steps, fmt.Errorf("instruction %d: unexpected code %#x", pc, ins.Code)
		}
	}
	return 0, steps, errors.New("ran off the end of the program")
}

// longestPath is the most instructions one run can execute: jumps only go
// forward, so the program is a DAG and this is its longest path.
func longestPath(prog []unix.SockFilter) int {
	n := len(prog)
	d := make([]int, n+1)
	for pc := n - 1; pc >= 0; pc-- {
		ins := prog[pc]
		succ := func(s int) int {
			if s >= n {
				return 0
			}
			return d[s]
		}
		switch {
		case ins.Code&0x07 == unix.BPF_RET:
			d[pc] = 1
		case ins.Code == unix.BPF_JMP|unix.BPF_JA:
			d[pc] = 1 + succ(pc+1+int(ins.K))
		case ins.Code&0x07 == unix.BPF_JMP:
			d[pc] = 1 + max(succ(pc+1+int(ins.Jt)), succ(pc+1+int(ins.Jf)))
		default:
			d[pc] = 1 + succ(pc+1)
		}
	}
	return d[0]
}
