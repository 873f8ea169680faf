package vm

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// cpioWriter writes a newc archive, the initramfs format. Every entry is
// owned by root, whoever builds it: the setuid bits of newuidmap and
// newgidmap then mean what they must.
type cpioWriter struct {
	f     *os.File
	w     *bufio.Writer
	ino   uint32
	err   error
	wrote int64
}

func newCpio(path string) (*cpioWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &cpioWriter{f: f, w: bufio.NewWriterSize(f, 1<<20), ino: 1}, nil
}

func (c *cpioWriter) header(name string, mode uint32, size int64) {
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name + "\x00"))
	c.pad()
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.wrote += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.wrote % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string, perm uint32) { c.header(name, 0o040000|perm, 0) }

func (c *cpioWriter) symlink(name, target string) {
	c.header(name, 0o120000|0o777, int64(len(target)))
	c.write([]byte(target))
	c.pad()
}

func (c *cpioWriter) data(name, content string, perm uint32) {
	c.header(name, 0o100000|perm, int64(len(content)))
	c.write([]byte(content))
	c.pad()
}

// file adds the host file src as name.
func (c *cpioWriter) file(name, src string, perm uint32) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	c.header(name, 0o100000|perm, st.Size())
	if c.err == nil {
		var n int64
		n, c.err = io.Copy(c.w, f)
		c.wrote += n
	}
	c.pad()
	return c.err
}

func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0)
	if c.err == nil {
		c.err = c.w.Flush()
	}
	if err := c.f.Close(); c.err == nil {
		c.err = err
	}
	return c.err
}
