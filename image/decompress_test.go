package image

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestDecompress(t *testing.T) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	body := "ID=test\n"
	if err := tw.WriteHeader(&tar.Header{Name: "etc/os-release", Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	tarball := tb.Bytes()
	gzipped := gzipBytes(t, tarball)
	badCRC := bytes.Clone(gzipped)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 in the gzip trailer

	tests := []struct {
		name    string
		input   []byte
		wantErr bool // reading the stream to its end
	}{
		{name: "plain", input: tarball},
		{name: "gzip", input: gzipped},
		{name: "zstd", input: zstdBytes(t, tarball)},
		{name: "gzip with a bad checksum", input: badCRC, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := Decompress(bytes.NewReader(tt.input), UnzstdWith(""))
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			defer rc.Close()
			out, err := io.ReadAll(rc)
			if tt.wantErr {
				if err == nil {
					t.Fatal("reading a corrupt stream succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(out, tarball) {
				t.Fatalf("got %d bytes, want the %d-byte tar back", len(out), len(tarball))
			}
		})
	}
}

func TestDecompressShortInput(t *testing.T) {
	for _, input := range [][]byte{nil, {0x1f}, {0x28, 0xb5, 0x2f}} {
		rc, err := Decompress(bytes.NewReader(input), UnzstdWith(""))
		if err != nil {
			t.Fatalf("Decompress(%x): %v", input, err)
		}
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, input) {
			t.Errorf("Decompress(%x) read %x, %v; want the input back", input, got, err)
		}
		rc.Close()
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
