// Package transfer runs the transfer program (cmd/sandbox-transfer, carried
// by transfer/transferbin) for the commands that move images or fetch
// bytes: pull, push, login, save, load, a build's download of a URL, and
// zstd decoding (Unzstd) for pulls, imports and a build's ADD. The
// program holds the registry client, the archive formats and the zstd
// decoder, so the CLI does not link them on amd64 and every other
// command starts without their cost. Where no program is carried (other
// architectures) the CLI links transfer/server and serves it on a
// goroutine.
//
// A Session is one program (or that goroutine) serving one command over
// a socket (package transfer/wire). The CLI stays in charge of the store: it decides which
// layers it lacks, checks every byte it is given against its digest and
// unpacks it; the program only fetches, reads and writes what it is asked
// to.
package transfer
