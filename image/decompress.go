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
// it does not close r. zstd is decoded by the transfer program (installed
// in runDir, the user's private runtime directory, if it is not ""): the
// CLI does not link a zstd decoder, whose initialisation every start
// would pay.
//
// Media types are not trusted for this: registries and tools mislabel
// layers, and the bytes cannot lie.
func Decompress(r io.Reader, runDir string) (io.ReadCloser, error) {
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
		zr, err := transfer.Unzstd(runDir, br)
		if err != nil {
			return nil, fmt.Errorf("starting zstd decoder: %w", err)
		}
		// Its Close ends the program.
		return zr, nil
	default:
		return io.NopCloser(br), nil
	}
}
