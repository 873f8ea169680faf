package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// TestServeInProcess: the server answers on a socket pair within one
// process, as the CLI serves it where no program is carried: a download
// streams, a registry's unknown tag is not-found, and the server ends
// when the client closes.
func TestServeInProcess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/file":
			fmt.Fprint(w, "downloaded")
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
		}
	}))
	defer srv.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		Serve(os.NewFile(uintptr(fds[1]), "server"))
		close(served)
	}()
	client := wire.NewPeer(os.NewFile(uintptr(fds[0]), "client"), nil)
	client.Start()
	st, err := client.Stream(&wire.Msg{Op: wire.OpFetch, Ref: srv.URL + "/file"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(st)
	st.Close()
	if err != nil || string(got) != "downloaded" {
		t.Fatalf("fetched %q, %v", got, err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err = client.Call(&wire.Msg{Op: wire.OpResolve, Ref: host + "/x/y:1", Platform: "linux/amd64", Insecure: true})
	if !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("an unknown tag: %v, want not-found", err)
	}
	client.Shutdown()
	<-served
	client.Close()
}
