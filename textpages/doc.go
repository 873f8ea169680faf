// Package textpages puts a program's code and read-only data in the page
// cache as 2 MiB folios, which every process executing the program then
// maps with one page-table entry per 2 MiB instead of 512: the kernel
// maps a folio of that size whole (a PMD mapping) wherever the process's
// address and the file's offset agree modulo 2 MiB, as they do in a
// static Go program's read-only segments.
//
// A process pays for every 4 KiB page it touches for the first time: on
// the test machine, a virtual machine whose page tables the host shadows,
// about 5 µs each. sandbox's CLI touches most of its 7 MB of code as it
// starts, and its start is what every command waits for. With its code
// in 2 MiB folios, `sandbox version` took 9.6 ms instead of 13.4 ms and
// `run --rm` 32.6 instead of 36.8 ms (docs/ARCHITECTURE.md, "The CLI's
// code in 2 MiB pages").
//
// The page cache gets such folios only when a read fills them through a
// mapping advised MADV_HUGEPAGE, on a filesystem with large folios (xfs
// since Linux 5.18, ext4 since 6.16): installing a program, or executing it,
// leaves small ones. Heal drops the program's small folios and reads each
// 2 MiB region again through such a mapping; a folio that some process
// maps cannot be dropped, so Heal runs when the program's own command has
// exited, and tries again for a while. Claim makes that happen once per
// boot for each build of a program, and again when the kernel has taken
// the folios back (reclaim of a cold program: they come back small).
//
// The package imports only the standard library and x/sys: the init
// program, which every sandbox start executes, links it.
package textpages
