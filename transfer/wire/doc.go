// Package wire is the protocol between sandbox's CLI and its transfer
// program (cmd/sandbox-transfer): JSON messages framed on a unix stream
// socket, each able to carry descriptors. Bulk data never crosses the
// socket: a layer flows through a pipe whose end travels with the request
// that asks for it, so many layers move at once and each is read at the
// pace of its consumer.
//
// Either side may ask and either side answers: the CLI asks the program
// to resolve, fetch, write or log in, and while the program writes an
// image it asks the CLI for the stored layers it needs (OpStoredLayer).
// The Docker API server's program (cmd/sandbox-api) speaks the same
// protocol to the CLI that serves the store for it: its calls carry
// their arguments and results as JSON in Msg.Data (package api/calls).
//
// The package imports only the standard library and x/sys, as every
// program links it and the CLI must stay light.
package wire

// SocketFD is the descriptor a carried program gets its socket to the CLI
// as (program.Blob.StartWithSocket); 3 is the program itself.
const SocketFD = 4
