package seccomp

import (
	"encoding/binary"
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

//go:generate go run ./internal/mksyscalls

// sysno is one entry of a syscall table: a name and the number the
// filter sees in seccomp_data.nr.
type sysno struct {
	name string
	nr   uint32
}

// x32SyscallBit (__X32_SYSCALL_BIT) marks the syscalls of x32 programs,
// which run with AUDIT_ARCH_X86_64 like native ones.
const x32SyscallBit = 0x40000000

// archInfo is what the compiler needs of one architecture.
type archInfo struct {
	name  specs.Arch
	audit uint32 // AUDIT_ARCH_*, what seccomp_data.arch holds
	// wide is true where syscall arguments are 64 bits and the filter
	// compares both words; libseccomp treats x86, x32 and arm as 32-bit
	// and compares the low word only.
	wide  bool
	table []sysno // sorted by name
}

var arches = []*archInfo{
	{specs.ArchX86_64, unix.AUDIT_ARCH_X86_64, true, syscallsX86_64},
	{specs.ArchX86, unix.AUDIT_ARCH_I386, false, syscallsI386},
	{specs.ArchX32, unix.AUDIT_ARCH_X86_64, false, syscallsX32},
	{specs.ArchAARCH64, unix.AUDIT_ARCH_AARCH64, true, syscallsAARCH64},
	{specs.ArchARM, unix.AUDIT_ARCH_ARM, false, syscallsARM},
}

// isX32 tells x32 apart from x86_64, with which it shares an audit arch.
func (a *archInfo) isX32() bool { return a.name == specs.ArchX32 }

// lookup returns the number of a syscall on this architecture. A plain
// binary search: Compile looks up every name of a profile on every
// architecture, and this is twice as fast as slices.BinarySearchFunc.
func (a *archInfo) lookup(name string) (uint32, bool) {
	lo, hi := 0, len(a.table)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.table[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(a.table) && a.table[lo].name == name {
		return a.table[lo].nr, true
	}
	return 0, false
}

func archByName(name specs.Arch) *archInfo {
	for _, a := range arches {
		if a.name == name {
			return a
		}
	}
	return nil
}

// nativeArch is the architecture sandbox itself runs as, which an empty
// architectures list means (as in libseccomp), or nil where we have no
// table.
func nativeArch() *archInfo {
	switch runtime.GOARCH {
	case "amd64":
		return archByName(specs.ArchX86_64)
	case "386":
		return archByName(specs.ArchX86)
	case "arm64":
		return archByName(specs.ArchAARCH64)
	case "arm":
		return archByName(specs.ArchARM)
	}
	return nil
}

// compatArches are the architectures whose programs the native kernel
// also runs, used when there is no profile to name them.
func compatArches() []specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	}
	if a := nativeArch(); a != nil {
		return []specs.Arch{a.name}
	}
	return nil
}

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// argOffsets returns where the low and high 32-bit words of argument i
// are: each argument is a native-endian __u64.
func argOffsets(i uint) (lo, hi uint32) {
	off := uint32(offArgs + 8*i)
	if littleEndian() {
		return off, off + 4
	}
	return off + 4, off
}

func littleEndian() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}
