package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// digestOf is the "sha256:<hex>" digest of b.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// blobReader passes a registry blob through, hashing it, and remembers
// the first read error: the transfer program ends a stream with the error
// it met (go-containerregistry's own digest check as the blob ends, a
// broken connection), and a consumer that stops early (a tar reader at
// its end-of-archive marker) must not hide it. verify reads what is left,
// so both checks always run: the program's and ours against the digest.
type blobReader struct {
	r      io.Reader
	digest string
	h      hash.Hash // nil for a digest that is not sha256: the program's check alone
	err    error
}

func newBlobReader(r io.Reader, digest string) *blobReader {
	b := &blobReader{r: r, digest: digest}
	if strings.HasPrefix(digest, "sha256:") {
		b.h = sha256.New()
	}
	return b
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.h != nil {
		b.h.Write(p[:n])
	}
	if err != nil && !errors.Is(err, io.EOF) && b.err == nil {
		b.err = err
	}
	return n, err
}

// verify reads what is left and returns the blob's error, naming it.
func (b *blobReader) verify() error {
	if _, err := io.Copy(io.Discard, b); err != nil && b.err == nil {
		b.err = err
	}
	if b.err == nil && b.h != nil {
		if got := "sha256:" + hex.EncodeToString(b.h.Sum(nil)); got != b.digest {
			b.err = fmt.Errorf("its bytes hash to %s", got)
		}
	}
	if b.err != nil {
		return fmt.Errorf("blob %s: %w (the registry served data that does not match its digest, or the transfer broke; nothing of it was stored)", b.digest, b.err)
	}
	return nil
}
