package image

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/image/imagetypes"
)

// progress draws one line per layer on a terminal, podman style, redrawn
// in place a few times a second. With a nil writer every method is a no-op,
// so callers need no conditionals.
type progress struct {
	w io.Writer
	// events, when set instead of w, gets each layer's progress (the
	// API's JSON stream) in place of the drawing.
	events func(ProgressEvent)
	said   map[string]bool
	mu     sync.Mutex
	bars   map[string]*bar
	order  []string
	drawn  int // lines drawn last time, to move the cursor back over
	quit   chan struct{}
	wg     sync.WaitGroup
}

type bar struct {
	done, total int64
	status      string
}

// ProgressEvent is one layer's progress of a pull (package imagetypes).
type ProgressEvent = imagetypes.ProgressEvent

func newProgress(w io.Writer, events func(ProgressEvent)) *progress {
	p := &progress{w: w, events: events, said: map[string]bool{}, bars: map[string]*bar{}, quit: make(chan struct{})}
	if !p.on() {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.draw()
			case <-p.quit:
				p.draw()
				return
			}
		}
	}()
	return p
}

func (p *progress) on() bool { return p.w != nil || p.events != nil }

func (p *progress) get(key string) *bar {
	b, ok := p.bars[key]
	if !ok {
		b = &bar{}
		p.bars[key] = b
		p.order = append(p.order, key)
	}
	return b
}

// reader counts what passes through r against the layer's size.
func (p *progress) reader(key string, r io.Reader, size int64) io.Reader {
	if !p.on() {
		return r
	}
	p.mu.Lock()
	p.get(key).total = size
	p.mu.Unlock()
	return &countReader{r: r, p: p, key: key}
}

func (p *progress) done(key, status string) {
	if !p.on() {
		return
	}
	p.mu.Lock()
	p.get(key).status = status
	p.mu.Unlock()
}

func (p *progress) stop() {
	if !p.on() {
		return
	}
	close(p.quit)
	p.wg.Wait()
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.events != nil {
		for _, k := range p.order {
			b := p.bars[k]
			switch {
			case p.said[k]:
			case b.status == "already exists":
				p.events(ProgressEvent{Layer: ShortID(k), Status: "Already exists"})
				p.said[k] = true
			case b.status != "":
				p.events(ProgressEvent{Layer: ShortID(k), Status: "Pull complete"})
				p.said[k] = true
			default:
				p.events(ProgressEvent{Layer: ShortID(k), Status: "Downloading", Current: b.done, Total: b.total})
			}
		}
		return
	}
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	keys := p.order
	for _, k := range keys {
		b := p.bars[k]
		line := b.status
		if line == "" {
			line = fmt.Sprintf("%s / %s", humanBytes(b.done), humanBytes(b.total))
		}
		fmt.Fprintf(p.w, "\x1b[2KCopying blob %s %s\n", ShortID(k), line)
	}
	p.drawn = len(keys)
}

type countReader struct {
	r   io.Reader
	p   *progress
	key string
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.mu.Lock()
	c.p.bars[c.key].done += int64(n)
	c.p.mu.Unlock()
	return n, err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
