package config

import (
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"512MiB", 512 << 20},
		{"512M", 512 << 20},
		{"512MB", 512 << 20},
		{"1.5GiB", 3 << 29},
		{"100k", 100 << 10},
		{"1073741824", 1 << 30},
		{" 2g ", 2 << 30},
		{"1T", 1 << 40},
	} {
		got, err := ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, mention string }{
		{"", "empty"},
		{"-1G", "more than zero"},
		{"0", "more than zero"},
		{"1.5.2G", "not a size"},
		{"12XB", "unknown unit"},
		{"5 hundred", "unknown unit"},
		{"lots", "not a size"},
	} {
		_, err := ParseBytes(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ParseBytes(%q) error %v, want one mentioning %q", tc.in, err, tc.mention)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{{512 << 20, "512MiB"}, {3 << 29, "1536MiB"}, {3<<29 + 1, "1.5GiB"}, {100, "100"}, {1 << 40, "1TiB"}} {
		if got := FormatBytes(tc.in); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
