package layer

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestDecompress(t *testing.T) {
	tarball := mustTar(t, fileE("etc/os-release", "ID=test\n", 0o644))
	gzipped := gzipBytes(t, tarball)
	badCRC := bytes.Clone(gzipped)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 in the gzip trailer

	tests := []struct {
		name    string
		input   []byte
		wantErr bool // from Unpack, reading through the decoder
	}{
		{name: "plain", input: tarball},
		{name: "gzip", input: gzipped},
		{name: "zstd", input: zstdBytes(t, tarball)},
		{name: "gzip with a bad checksum", input: badCRC, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := Decompress(bytes.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			defer rc.Close()
			dir := layerDir(t)
			_, err = Unpack(rc, dir, Options{})
			if tt.wantErr {
				if err == nil {
					t.Fatal("Unpack succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if got := readString(t, filepath.Join(dir, "etc/os-release")); got != "ID=test\n" {
				t.Errorf("etc/os-release = %q", got)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestDecompressShortInput(t *testing.T) {
	for _, input := range [][]byte{nil, {0x1f}, {0x28, 0xb5, 0x2f}} {
		rc, err := Decompress(bytes.NewReader(input))
		if err != nil {
			t.Fatalf("Decompress(%x): %v", input, err)
		}
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, input) {
			t.Errorf("Decompress(%x) read %x, %v; want the input back", input, got, err)
		}
		rc.Close()
	}
	// An empty stream is an empty layer.
	if _, err := Unpack(bytes.NewReader(nil), t.TempDir(), Options{}); err != nil {
		t.Errorf("Unpack of an empty stream: %v", err)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
