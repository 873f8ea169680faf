package runtime

import (
	"bufio"
	"io"
	"os"
	"sync"
	"time"
)

// LogWriter writes a detached container's output as lines of
// "TIME STREAM F|P MESSAGE" (the CRI log format, which `sandbox logs`
// reads): F ends a line, P is a part of one longer than a read. Both the
// CLI's monitor and the small watcher that replaces it write through it.
type LogWriter struct {
	mu sync.Mutex
	f  *os.File
	// rec is the record being written, its storage reused: a resident
	// init writes every line its container prints through here, for the
	// container's whole life, and a record allocated per line made its
	// heap grow to Go's 4 MiB collection goal (0.9 → 4.3 MiB of
	// anonymous memory over 30000 lines).
	rec []byte
}

// NewLogWriter writes to f, a file opened for appending.
func NewLogWriter(f *os.File) *LogWriter { return &LogWriter{f: f} }

// File is the log file written to.
func (l *LogWriter) File() *os.File { return l.f }

// logLineMax is the longest part of a line written as one record.
const logLineMax = 64 << 10

// Copy writes what r yields, line by line, until r ends, and returns
// why: r's error, io.EOF at its end. What a read before another error
// left of a line (a resident init stops its copying with a deadline
// before it goes idle) is written as a part: the rest comes later,
// through another Copy of the same stream.
func (l *LogWriter) Copy(r io.Reader, stream string) error {
	br := bufio.NewReaderSize(r, logLineMax)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			l.writeTagged(stream, "F", line)
		case err == bufio.ErrBufferFull:
			l.writeTagged(stream, "P", line)
			continue
		case len(line) > 0 && err == io.EOF:
			l.writeTagged(stream, "F", line)
		case len(line) > 0:
			l.writeTagged(stream, "P", line)
		}
		if err != nil {
			return err
		}
	}
}

// Write adds one whole line to the log.
func (l *LogWriter) Write(stream, line string) { l.writeTagged(stream, "F", []byte(line)) }

func (l *LogWriter) writeTagged(stream, tag string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := time.Now().UTC().AppendFormat(l.rec[:0], time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ')
	b = append(b, tag...)
	b = append(b, ' ')
	b = append(b, line...)
	b = append(b, '\n')
	l.f.Write(b)
	l.rec = b
}
