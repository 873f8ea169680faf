package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/sandbox-dev/sandbox/transfer"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress sniffs the first bytes of r: gzip (1f 8b), zstd (28 b5 2f fd),
// or plain tar; it returns the uncompressed stream. Close releases decoders;
// it does not close r. zstd is decoded by the transfer program, through
// unzstd (a session's Unzstd, or UnzstdWith): the CLI does not link a zstd
// decoder, whose initialisation every start would pay.
func Decompress(r io.Reader, unzstd Unzstd) (io.ReadCloser, error) {
	// A large buffer: the decoders read it byte by byte through
	// io.ByteReader, and refilling it is a read from the network or a pipe.
	br := bufio.NewReaderSize(r, 256<<10)
	// A stream shorter than the longest magic is not compressed; let the
	// tar reader judge it.
	magic, err := br.Peek(len(zstdMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("detecting layer compression: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("starting gzip decoder: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := unzstd(br)
		if err != nil {
			return nil, fmt.Errorf("starting zstd decoder: %w", err)
		}
		// Its Close ends the program.
		return zr, nil
	default:
		return io.NopCloser(br), nil
	}
}

// Unzstd decodes a zstd stream for Decompress.
type Unzstd func(io.Reader) (io.ReadCloser, error)

// UnzstdWith decodes with a transfer program of its own, installed in
// runDir (the user's private runtime directory, or "": a memfd): for a
// command that has no transfer session open.
func UnzstdWith(runDir string) Unzstd {
	return func(r io.Reader) (io.ReadCloser, error) { return transfer.Unzstd(runDir, r) }
}
