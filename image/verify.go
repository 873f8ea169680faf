package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// digestOf is the "sha256:<hex>" digest of b.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// digestReader hashes what passes through it, so that a stream can be
// checked against the digest it was asked for once it has been consumed.
// It remembers the first read error: a consumer that stops early (a tar
// reader at its end-of-archive marker) must not hide a broken stream.
type digestReader struct {
	r    io.Reader
	h    hash.Hash
	want string
	err  error
}

func newDigestReader(r io.Reader, want string) *digestReader {
	return &digestReader{r: r, h: sha256.New(), want: want}
}

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	if err != nil && !errors.Is(err, io.EOF) && d.err == nil {
		d.err = err
	}
	return n, err
}

// verify reads what is left and checks the digest.
func (d *digestReader) verify() error {
	if _, err := io.Copy(io.Discard, d); err != nil && d.err == nil {
		d.err = err
	}
	if d.err != nil {
		return fmt.Errorf("reading blob %s: %w", d.want, d.err)
	}
	if got := "sha256:" + hex.EncodeToString(d.h.Sum(nil)); got != d.want {
		return fmt.Errorf("blob %s does not match its digest (its content hashes to %s): the registry served corrupt data; nothing of it was stored", d.want, got)
	}
	return nil
}
