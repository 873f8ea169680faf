package umask

import (
	"os"
	"strconv"
	"strings"
)

// Unknown is what Current returns where the kernel does not say (Linux
// before 4.7, or /proc not mounted): a mask that leaves no permission,
// so that whoever compares a mode with one made under it finds no match.
const Unknown = 0o777

// Current is the process's umask, as /proc/self/status shows it.
func Current() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Unknown
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(m)
			}
		}
	}
	return Unknown
}
