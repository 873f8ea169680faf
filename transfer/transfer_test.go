package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// runDir is a private runtime directory for the program's installed copy.
func runDir(t *testing.T) string {
	t.Helper()
	if !blob.Available() {
		t.Skip("no transfer program for this architecture")
	}
	d := t.TempDir()
	os.Chmod(d, 0o700)
	return d
}

// TestUnzstd decodes through the program, and a broken stream ends with
// the decoder's error instead of a short read.
func TestUnzstd(t *testing.T) {
	dir := runDir(t)
	want := bytes.Repeat([]byte("sandbox layer bytes "), 50000)
	enc, _ := zstd.NewWriter(nil)
	packed := enc.EncodeAll(want, nil)
	rc, err := Unzstd(dir, bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("decoded %d bytes (want %d), %v", len(got), len(want), err)
	}
	// Through a session that goes on (a pull's): the same bytes, and the
	// session still answers once the stream is closed.
	s, err := Start(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		rc, err := s.Unzstd(bytes.NewReader(packed))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("decoded in a session %d bytes (want %d), %v", len(got), len(want), err)
		}
	}
	rc, err = Unzstd(dir, bytes.NewReader(packed[:len(packed)/2]))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil {
		t.Fatal("a truncated zstd stream decoded without an error")
	}
}

// TestFetch downloads through the program, with the server's
// Last-Modified, and a refusal is an error naming the status.
func TestFetch(t *testing.T) {
	dir := runDir(t)
	modified := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/file.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
		fmt.Fprint(w, "remote content")
	}))
	defer srv.Close()
	s, err := Start(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Fetch(srv.URL + "/file.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d)
	d.Close()
	if err != nil || string(got) != "remote content" {
		t.Fatalf("fetched %q, %v", got, err)
	}
	if m, ok := d.Modified(); !ok || !m.Equal(modified) {
		t.Errorf("Modified() = %v, %v; want %v", m, ok, modified)
	}
	d, err = s.Fetch(srv.URL + "/missing")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(d)
	d.Close()
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a missing file: %v, want the server's 404", err)
	}
}

// TestResolveCodes: a registry that has no such tag answers not-found
// (the CLI then tries its next search registry), and one that wants
// credentials answers unauthorized, with how to log in.
func TestResolveCodes(t *testing.T) {
	dir := runDir(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasPrefix(r.URL.Path, "/v2/private/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	s, err := Start(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Resolve(host+"/library/nothing:1", "linux/amd64", true)
	if !errors.Is(err, wire.ErrNotFound) || errors.Is(err, wire.ErrUnauthorized) {
		t.Errorf("an unknown tag: %v, want not-found", err)
	}
	_, err = s.Resolve(host+"/private/thing:1", "linux/amd64", true)
	if !errors.Is(err, wire.ErrUnauthorized) || !strings.Contains(err.Error(), "sandbox login "+host) {
		t.Errorf("a private repository: %v, want unauthorized with the login hint", err)
	}
}

// TestCancel: the program dies with the context, and a call under way
// fails instead of waiting for ever.
func TestCancel(t *testing.T) {
	dir := runDir(t)
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Fetch(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(d)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a download cut by the context ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a download still waits 10 s after its context ended")
	}
}

// slowSource gives its bytes a chunk at a time, each after a pause (a
// registry's response arriving), and notes whether two reads ever
// overlapped.
type slowSource struct {
	b       []byte
	reading atomic.Int32
	overlap atomic.Bool
}

func (s *slowSource) Read(p []byte) (int, error) {
	if s.reading.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.reading.Add(-1)
	time.Sleep(5 * time.Millisecond)
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 16<<10)], s.b)
	s.b = s.b[n:]
	return n, nil
}

// TestUnzstdEndsAfterFeeder: a stream that fails early (its first frame
// is corrupt, more follow) ends with the decoder's error only once
// nothing reads the source any more, so that its caller can read the
// source's rest (to check its digest) without racing the feeder (review
// finding: two readers at once hung a pull).
func TestUnzstdEndsAfterFeeder(t *testing.T) {
	dir := runDir(t)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	first := enc.EncodeAll(bytes.Repeat([]byte("layer "), 20000), nil)
	first[len(first)-2] ^= 0xff // the first frame's checksum
	rest := enc.EncodeAll(bytes.Repeat([]byte("more "), 200000), nil)
	src := &slowSource{b: append(first, rest...)}
	rc, err := Unzstd(dir, src)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rc)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream has not ended 10 s on")
	}
	if err == nil {
		t.Fatal("a stream with a bad checksum ended without an error")
	}
	// What a digest check does next: read the rest of the source.
	io.Copy(io.Discard, src)
	rc.Close()
	if src.overlap.Load() {
		t.Fatal("the source was read by the caller while the feeder still read it")
	}
}

// TestHelperInheritsNothing: a Docker credential helper the program runs
// (a third party's program) gets none of its descriptors beyond stdio:
// not the socket, which can ask the CLI for any stored layer, nor the
// program's own executable (review finding).
func TestHelperInheritsNothing(t *testing.T) {
	dir := runDir(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	bin, cfg := t.TempDir(), t.TempDir()
	seen := filepath.Join(t.TempDir(), "fds")
	helper := "#!/bin/sh\nls /proc/$$/fd > " + seen + "\necho '{\"ServerURL\":\"" + host + "\",\"Username\":\"u\",\"Secret\":\"p\"}'\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-probe"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"credHelpers":{"`+host+`":"probe"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(cfg, "none.json"))
	s, err := Start(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Resolve(host+"/x/y:1", "linux/amd64", true)
	b, err := os.ReadFile(seen)
	if err != nil {
		t.Fatalf("the credential helper did not run: %v", err)
	}
	// The shell keeps descriptors of its own from 10 up; 3 and 4 are
	// where the program's executable and socket would be, and nothing
	// else of the program's (or the CLI's) may come through either.
	for _, fd := range strings.Fields(string(b)) {
		if len(fd) == 1 && fd >= "3" && fd <= "9" {
			t.Errorf("the credential helper inherited descriptor %s (all it had: %q)", fd, strings.Fields(string(b)))
		}
	}
}

// TestCloseAbandonedStream: a session closed after its caller gave up a
// download that stalled midway ends at once, not after the program's
// wait for a server that sends nothing more (review finding).
func TestCloseAbandonedStream(t *testing.T) {
	dir := runDir(t)
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 4096))
		w.(http.Flusher).Flush()
		<-block
	}))
	defer srv.Close()
	defer close(block)
	s, err := Start(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Fetch(srv.URL + "/stalls")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(d, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	start := time.Now()
	s.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("closing the session took %v", took)
	}
}
