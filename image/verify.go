package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// digestOf is the "sha256:<hex>" digest of b.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// blobReader passes a registry blob through and remembers the first read
// error: go-containerregistry checks the digest as the blob ends and
// reports a mismatch as that error, and a consumer that stops early (a tar
// reader at its end-of-archive marker) must not hide it. verify reads what
// is left, so the check always runs.
type blobReader struct {
	r      io.Reader
	digest string
	err    error
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
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
	if b.err != nil {
		return fmt.Errorf("blob %s: %w (the registry served data that does not match its digest, or the transfer broke; nothing of it was stored)", b.digest, b.err)
	}
	return nil
}
