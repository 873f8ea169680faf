package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteUnits are the suffixes of a size. As in docker and podman, k, M, G
// and T are binary multiples (1024) with or without "i" and "B": a memory
// limit of "512M" means 512 MiB, whatever SI would say.
var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// ParseBytes parses a size: "512MiB", "512M", "1.5GiB", "100k" or a plain
// number of bytes. It must be positive.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size: give a number with an optional unit, like 512MiB")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || t[i] == '-' || t[i] == '+') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size: want a number with an optional unit, like 512MiB, 1.5GiB or 100k", s)
	}
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q: use B, k, M, G or T (binary: KiB, MiB, GiB, TiB are the same)", s, t[i:])
	}
	if f <= 0 {
		return 0, fmt.Errorf("%q: a size must be more than zero", s)
	}
	b := f * mult
	switch {
	case math.IsNaN(b) || math.IsInf(b, 0) || b >= math.MaxInt64:
		return 0, fmt.Errorf("%q is too large", s)
	case b < 1:
		return 0, fmt.Errorf("%q is less than one byte", s)
	case mult == 1 && b != math.Trunc(b):
		return 0, fmt.Errorf("%q: a number of bytes is a whole number (or give a unit, like 1.5KiB)", s)
	}
	return int64(b), nil
}

// ExactBytes writes a size so that ParseBytes reads back the same number:
// with a unit when it is a whole multiple of one, else in bytes.
func ExactBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// FormatBytes writes a size the way a user would ("512MiB"), rounded.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size {
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
