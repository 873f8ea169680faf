// Package transfer runs the transfer program (cmd/sandbox-transfer, carried
// by transfer/transferbin) for the commands that move images: pull, push,
// login, save and load. The program holds the registry client, the
// archive formats and the zstd decoder, so the CLI does not link them and
// every other command starts without their cost.
//
// A Session is one program serving one command over a socket (package
// transfer/wire). The CLI stays in charge of the store: it decides which
// layers it lacks, checks every byte it is given against its digest and
// unpacks it; the program only fetches, reads and writes what it is asked
// to.
package transfer
