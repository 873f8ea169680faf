package textpages

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type segment struct {
	flags              uint32
	off, vaddr, filesz uint64
}

// writeProgram writes an ELF header with segs as its program headers,
// then zeros up to size bytes, in chunk-sized writes.
func writeProgram(t *testing.T, path string, size int64, chunk int, segs []segment) {
	t.Helper()
	h := make([]byte, elfHeaderSize+phdrSize*len(segs))
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1
	le := binary.LittleEndian
	le.PutUint64(h[0x20:], elfHeaderSize)
	le.PutUint16(h[0x36:], phdrSize)
	le.PutUint16(h[0x38:], uint16(len(segs)))
	for i, s := range segs {
		p := h[elfHeaderSize+i*phdrSize:]
		le.PutUint32(p, ptLoad)
		le.PutUint32(p[4:], s.flags)
		le.PutUint64(p[8:], s.off)
		le.PutUint64(p[16:], s.vaddr)
		le.PutUint64(p[32:], s.filesz)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, size)
	copy(b, h)
	for i := range b[len(h):] {
		b[len(h)+i] = byte(i)
	}
	for off := 0; off < len(b); off += chunk {
		if _, err := f.Write(b[off:min(off+chunk, len(b))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestRegions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prog")
	// The layout of a static Go program: code, read-only data, then the
	// writable segment; and a read-only segment whose address and offset
	// disagree modulo 2 MiB.
	writeProgram(t, path, 64<<10, 64<<10, []segment{
		{flags: 5, off: 0, vaddr: 0x400000, filesz: 0x6b34b1},
		{flags: 4, off: 0x6b4000, vaddr: 0xab4000, filesz: 0x706a58},
		{flags: 6, off: 0xdbb000, vaddr: 0x11bb000, filesz: 0x8fe040},
		{flags: 4, off: 0x1800000, vaddr: 0x2801000, filesz: 0x800000},
	})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Regions(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{0, 0x200000, 0x400000, 0x800000, 0xa00000}; !reflect.DeepEqual(got, want) {
		t.Errorf("Regions = %#x, want %#x", got, want)
	}

	notELF := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	g, _ := os.Open(notELF)
	defer g.Close()
	if _, err := Regions(g); !errors.Is(err, ErrNotProgram) {
		t.Errorf("Regions of a script: %v, want ErrNotProgram", err)
	}
}

// TestRegionsOfThisProgram checks Regions against debug/elf's reading of
// the test binary itself.
func TestRegionsOfThisProgram(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(exe)
	if err != nil {
		t.Skipf("the test binary is not ELF: %v", err)
	}
	defer ef.Close()
	var want []int64
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W != 0 || (p.Vaddr-p.Off)%Size != 0 {
			continue
		}
		for r := (p.Off + Size - 1) / Size * Size; r+Size <= p.Off+p.Filesz; r += Size {
			want = append(want, int64(r))
		}
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Regions(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Regions = %#x, debug/elf says %#x", got, want)
	}
}

// hugeFoliosHere reports whether the page cache of dir's filesystem can
// hold 2 MiB folios at all: a file written 2 MiB a write gets them on
// filesystems with large folios (ext4 and xfs from Linux 6.16).
func hugeFoliosHere(t *testing.T, dir string) bool {
	path := filepath.Join(dir, "probe")
	writeProgram(t, path, 4<<20, 2<<20, []segment{{flags: 5, off: 0, vaddr: 0x400000, filesz: 4 << 20}})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := Huge(f, []int64{0, 2 << 20})
	return err == nil && n > 0
}

// smallFolioProgram writes a program of size bytes whose code is its
// first code bytes, 64 KiB a write as a copied program is (its page cache
// is in small folios), and opens it. It skips where the page cache holds
// no 2 MiB folios.
func smallFolioProgram(t *testing.T, size, code int64) (string, *os.File, []int64) {
	dir := t.TempDir()
	if !hugeFoliosHere(t, dir) {
		t.Skip("this filesystem's page cache holds no 2 MiB folios (it needs large folios: ext4 or xfs on Linux 6.16 or later, and transparent huge pages)")
	}
	path := filepath.Join(dir, "prog")
	writeProgram(t, path, size, 64<<10, []segment{{flags: 5, off: 0, vaddr: 0x400000, filesz: uint64(code)}})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	regions, err := Regions(f)
	if err != nil || int64(len(regions)) != code/Size {
		t.Fatalf("Regions = %v, %v; want %d", regions, err, code/Size)
	}
	return path, f, regions
}

// TestHealInMemory: a program on a tmpfs cannot be read again, so Heal
// says so at once instead of trying until its deadline (ten minutes in
// the text stage).
func TestHealInMemory(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		t.Skipf("/dev/shm is not a tmpfs here (%v)", err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "textpages-")
	if err != nil {
		t.Skipf("no room on /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "prog")
	writeProgram(t, path, 5<<20, 64<<10, []segment{{flags: 5, off: 0, vaddr: 0x400000, filesz: 4 << 20}})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	regions, err := Regions(f)
	if err != nil || len(regions) != 2 {
		t.Fatalf("Regions = %v, %v; want 2", regions, err)
	}
	// Without the check, Heal tries until this deadline and returns no
	// error: its pages never leave the cache.
	n, err := Heal(f, regions, time.Now().Add(2*time.Second))
	// A tmpfs mounted huge=always may have made them whole as written.
	if n < len(regions) && !errors.Is(err, ErrInMemory) {
		t.Errorf("Heal on a tmpfs = %d, %v; want ErrInMemory", n, err)
	}
	if n == len(regions) && err != nil {
		t.Errorf("Heal on a tmpfs made all regions whole but says %v", err)
	}
}

func TestHeal(t *testing.T) {
	path, f, regions := smallFolioProgram(t, 9<<20, 8<<20)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	small, err := Huge(f, regions)
	if err != nil || small == len(regions) {
		t.Fatalf("before Heal, %d of %d regions are whole (%v): nothing to test", small, len(regions), err)
	}
	n, err := Heal(f, regions, time.Now().Add(2*time.Minute))
	if err != nil || n != len(regions) {
		t.Fatalf("Heal = %d, %v; want %d (before it, %d were)", n, err, len(regions), small)
	}
	if n, err := Huge(f, regions); err != nil || n != len(regions) {
		t.Errorf("after Heal, Huge = %d, %v; want %d", n, err, len(regions))
	}
	after, _ := os.ReadFile(path)
	if !reflect.DeepEqual(before, after) {
		t.Error("the program's content changed")
	}
	t.Logf("%d of %d regions were 2 MiB folios before Heal", small, len(regions))
}

// TestHealHeld: a region that a mapping holds a page of cannot become
// one folio until it is let go; Heal tries again until then.
func TestHealHeld(t *testing.T) {
	_, f, regions := smallFolioProgram(t, 5<<20, 4<<20)
	hold, err := hold(f, regions[1])
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Heal(f, regions, time.Now()); err != nil || n != 1 {
		t.Fatalf("Heal with region 1 held = %d, %v; want 1", n, err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		hold()
	}()
	// A deadline far off: Heal returns as soon as both are whole.
	if n, err := Heal(f, regions, time.Now().Add(2*time.Minute)); err != nil || n != 2 {
		t.Fatalf("Heal once let go = %d, %v; want 2", n, err)
	}
}

// executeBetween makes afterDrop fault each region dropped back in, as
// a process executing the program does (a mapping without advice,
// touched page by page), during Heal's first passes passes (all of them
// when passes is 0); it counts the passes that did.
func executeBetween(t *testing.T, f *os.File, passes int) *int {
	raced := new(int)
	seen := map[int64]int{}
	afterDrop = func(off int64) {
		seen[off]++
		if passes > 0 && seen[off] > passes {
			return
		}
		b, err := unix.Mmap(int(f.Fd()), off, Size, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE)
		if err != nil {
			t.Error(err)
			return
		}
		for i := 0; i < Size; i += 4096 {
			sink += b[i]
		}
		unix.Munmap(b)
		if off == 0 {
			*raced++
		}
	}
	t.Cleanup(func() { afterDrop = nil })
	return raced
}

// TestHealWhileExecuted: a region that a process executing the program
// faults back in between Heal's drop and its read comes back small, as
// it would on a filesystem without large folios. Such passes must not
// make Heal give up (the stage's verdict held until the next boot, and
// every start stayed slow), however many: it tries again.
func TestHealWhileExecuted(t *testing.T) {
	_, f, regions := smallFolioProgram(t, 5<<20, 4<<20)
	raced := executeBetween(t, f, noHugeStrikes)
	n, err := Heal(f, regions, time.Now().Add(2*time.Minute))
	if err != nil || n != len(regions) {
		t.Fatalf("Heal while the program was executed for %d passes = %d, %v; want %d", noHugeStrikes, n, err, len(regions))
	}
	if *raced != noHugeStrikes {
		t.Errorf("the program was executed between drop and read in %d passes, want %d", *raced, noHugeStrikes)
	}
}

// TestHealNoHugeFolios: where the dropped regions come back small with
// nothing else faulting them in (what a filesystem without large folios
// does; the kernel's answer is simulated here), Heal says so after
// noHugeStrikes passes rather than at its deadline.
func TestHealNoHugeFolios(t *testing.T) {
	_, f, regions := smallFolioProgram(t, 5<<20, 4<<20)
	passes := 0
	mappedWhole = func(map[uintptr]int) ([]int, error) { passes++; return nil, nil }
	t.Cleanup(func() { mappedWhole = pmdMapped })
	n, err := Heal(f, regions, time.Now().Add(2*time.Minute))
	if !errors.Is(err, ErrNoHugeFolios) || n != 0 {
		t.Fatalf("Heal with every region back small = %d, %v; want 0, ErrNoHugeFolios", n, err)
	}
	if passes != noHugeStrikes {
		t.Errorf("Heal gave up after %d passes, want %d", passes, noHugeStrikes)
	}
}

// hold maps f's page at off and touches it; the returned func lets go.
func hold(f *os.File, off int64) (func(), error) {
	b, err := unix.Mmap(int(f.Fd()), off, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	sink += *(*byte)(unsafe.Pointer(&b[0]))
	return func() { unix.Munmap(b) }, nil
}

func TestClaim(t *testing.T) {
	dir := t.TempDir()
	f := Claim(dir)
	if f == nil {
		t.Fatal("the first Claim got no mark")
	}
	f.Close()
	if g := Claim(dir); g != nil {
		g.Close()
		t.Fatal("a second Claim in the same boot got a mark")
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	path := MarkPath(dir, &st)
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	g := Claim(dir)
	if g == nil {
		t.Fatal("a mark from before the boot was not claimed again")
	}
	g.Close()
	if h := Claim(filepath.Join(dir, "missing")); h != nil {
		t.Fatal("Claim in a missing directory got a mark")
	}
}

// TestClaimRecheck: a mark older than Recheck is claimed again only when
// the regions its Heal made whole have gone back to small folios.
func TestClaimRecheck(t *testing.T) {
	path, f, regions := smallFolioProgram(t, 5<<20, 4<<20)
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	mark := MarkPath(dir, &st)
	old := time.Now().Add(-2 * Recheck)
	// On a machine up for less than that, old would be before the boot,
	// which claims a mark whatever it says.
	if up, err := uptime(); err == nil && up < 3*Recheck {
		real := uptime
		uptime = func() (time.Duration, error) { return 3 * Recheck, nil }
		t.Cleanup(func() { uptime = real })
	}
	write := func(said string, when time.Time) {
		t.Helper()
		if err := os.WriteFile(mark, []byte(said), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(mark, when, when); err != nil {
			t.Fatal(err)
		}
	}
	checkedNow := func(what string) {
		t.Helper()
		var m unix.Stat_t
		if err := unix.Stat(mark, &m); err != nil {
			t.Fatal(err)
		}
		if time.Since(time.Unix(m.Mtim.Unix())) > time.Minute {
			t.Errorf("%s: the check did not become the mark's time", what)
		}
	}
	whole := Outcome(2, 2, 5*time.Millisecond) + "\n"

	write(whole, time.Now())
	if g := claim(dir, path); g != nil {
		g.Close()
		t.Fatal("a mark younger than Recheck was claimed again")
	}
	write(whole, old)
	g := claim(dir, path)
	if g == nil {
		t.Fatal("the regions are small folios again, but the old mark was not claimed again")
	}
	g.Close()
	if b, _ := os.ReadFile(mark); len(b) != 0 {
		t.Errorf("claimed again, the mark still says %q", b)
	}
	for _, said := range []string{Outcome(0, 2, 10*time.Minute) + "\n", ""} {
		write(said, old)
		if g := claim(dir, path); g != nil {
			g.Close()
			t.Errorf("a mark saying %q was claimed again", said)
		}
		checkedNow(fmt.Sprintf("mark %q", said))
	}
	// One region made whole of two (the other held by some process as
	// the stage worked): still whole, the mark is not claimed again.
	if n, err := Heal(f, regions[:1], time.Now().Add(5*time.Second)); err != nil || n != 1 {
		t.Fatalf("Heal of the first region = %d, %v", n, err)
	}
	write(Outcome(1, 2, 10*time.Minute)+"\n", old)
	if g := claim(dir, path); g != nil {
		g.Close()
		t.Error("the one region the last stage made whole still is, but the old mark was claimed again")
	}
	checkedNow("one region of two whole")
	if n, err := Heal(f, regions, time.Now().Add(5*time.Second)); err != nil || n != len(regions) {
		t.Fatalf("Heal = %d, %v", n, err)
	}
	write(whole, old)
	if g := claim(dir, path); g != nil {
		g.Close()
		t.Error("the regions are whole, but the old mark was claimed again")
	}
	checkedNow("whole regions")
}

// TestFlocked: info says a stage works while one holds its mark, and
// looks without taking the lock itself.
func TestFlocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mark")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if flocked(&st) {
		t.Fatal("a mark nobody locked reads as locked")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if !flocked(&st) {
		t.Fatal("a mark held with flock does not read as locked (/proc/locks)")
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if flocked(&st) {
		t.Error("a mark let go still reads as locked")
	}
}
