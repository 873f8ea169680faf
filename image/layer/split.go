package layer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A split record lets Assemble rebuild a layer's tar byte for byte from
// its unpacked directory, so that the rebuilt stream hashes to the layer's
// diff ID again (save, push, and the image ID that depends on them) without
// keeping a copy of every layer. It holds everything of the tar except the
// contents of regular files, which it names instead:
//
//	'M' uvarint(n) n bytes     tar bytes as they were (headers, padding, end)
//	'F' uvarint(n) n bytes     the file's name in the layer
//	    uvarint(size)          how many bytes of content follow in the tar
//
// (PAX records, skipped entries such as device nodes, and whatever followed
// the end-of-archive marker are all metadata.) The idea is tar-split's, as
// containers/storage uses; this is a smaller format of our own.
const (
	recMeta = 'M'
	recFile = 'F'
)

// splitRecorder sits between the tar stream and the tar reader: bytes read
// outside a file's contents are metadata, collected until the next file.
type splitRecorder struct {
	r       io.Reader
	w       *bufio.Writer
	meta    bytes.Buffer
	content bool
	err     error
}

func newSplitRecorder(r io.Reader, w io.Writer) *splitRecorder {
	return &splitRecorder{r: r, w: bufio.NewWriter(w)}
}

func (s *splitRecorder) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if !s.content {
		s.meta.Write(p[:n])
	}
	return n, err
}

// fileContents brackets the copy of a regular file's contents.
func (s *splitRecorder) beginFile() {
	s.flushMeta()
	s.content = true
}

func (s *splitRecorder) endFile(name string, size int64) {
	s.content = false
	s.record(recFile, []byte(name))
	s.uvarint(uint64(size))
}

func (s *splitRecorder) flushMeta() {
	if s.meta.Len() > 0 {
		s.record(recMeta, s.meta.Bytes())
		s.meta.Reset()
	}
}

func (s *splitRecorder) record(kind byte, b []byte) {
	if s.err != nil {
		return
	}
	s.w.WriteByte(kind)
	s.uvarint(uint64(len(b)))
	_, s.err = s.w.Write(b)
}

func (s *splitRecorder) uvarint(v uint64) {
	if s.err != nil {
		return
	}
	_, s.err = s.w.Write(binary.AppendUvarint(nil, v))
}

// close writes what is left; call it after the stream is fully read.
func (s *splitRecorder) close() error {
	s.flushMeta()
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// Assemble writes to w the tar that split and the layer directory dir were
// made from. A file that changed size since is an error; a changed content
// of the same size comes out changed, which the caller's diff ID check
// catches.
func Assemble(split io.Reader, dir string, w io.Writer) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("assembling layer %q: %w", dir, err)
	}
	defer root.Close()
	br := bufio.NewReader(split)
	buf := make([]byte, copyBufferSize)
	for {
		kind, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the split record of %q: %w", dir, err)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("reading the split record of %q: %w", dir, err)
		}
		switch kind {
		case recMeta:
			if _, err := io.CopyN(w, br, int64(n)); err != nil {
				return fmt.Errorf("assembling layer %q: %w", dir, err)
			}
		case recFile:
			name := make([]byte, n)
			if _, err := io.ReadFull(br, name); err != nil {
				return fmt.Errorf("reading the split record of %q: %w", dir, err)
			}
			size, err := binary.ReadUvarint(br)
			if err != nil {
				return fmt.Errorf("reading the split record of %q: %w", dir, err)
			}
			if err := copyFileContent(root, string(name), int64(size), w, buf); err != nil {
				return fmt.Errorf("assembling layer %q: %w", dir, err)
			}
		default:
			return fmt.Errorf("reading the split record of %q: unknown record %q", dir, kind)
		}
	}
}

func copyFileContent(root *os.Root, name string, size int64, w io.Writer, buf []byte) error {
	if strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") {
		return fmt.Errorf("bad file name %q in the split record", name)
	}
	f, err := root.Open(filepath.FromSlash(name))
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(struct{ io.Writer }{w}, io.LimitReader(f, size), buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%q has %d bytes, the layer recorded %d: the layer changed on disk", name, n, size)
	}
	return nil
}
