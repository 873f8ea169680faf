package userns

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// getsubidsTimeout bounds one getsubids run: with nsswitch the ranges may come
// from a network service (sssd, LDAP), and a hung lookup must not hang us.
const getsubidsTimeout = 10 * time.Second

// ParseSubIDFile parses /etc/subuid-format content ("owner:start:count" lines)
// and returns the ranges for the user, in file order, matching either the
// name or the numeric id in the owner field (as shadow-utils does). An empty
// name or a negative id matches nothing.
//
// Comments (#) and blank lines are ignored. Malformed lines of other users
// are skipped: they are not ours to reject, and newuidmap ignores them too.
// A malformed line for this user is an error naming the line number, because
// silently dropping it would silently change the user's mapping. A range with
// count 0 grants nothing and is skipped.
func ParseSubIDFile(r io.Reader, name string, id int) ([]Range, error) {
	numeric := ""
	if id >= 0 {
		numeric = strconv.Itoa(id)
	}
	var ranges []Range
	sc := bufio.NewScanner(r)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		owner := fields[0]
		if owner == "" || (owner != name && owner != numeric) {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("line %d: malformed entry %q for %s: want owner:start:count", lineNo, line, owner)
		}
		rg, err := parseRange(fields[1], fields[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: malformed entry %q for %s: %w", lineNo, line, owner, err)
		}
		if rg.Count > 0 {
			ranges = append(ranges, rg)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ranges, nil
}

// parseRange parses the decimal start and count of a range and checks that
// the range does not run past the largest id, which the kernel would refuse.
func parseRange(startStr, countStr string) (Range, error) {
	start, err := strconv.ParseUint(strings.TrimSpace(startStr), 10, 32)
	if err != nil {
		return Range{}, fmt.Errorf("bad start %q", startStr)
	}
	count, err := strconv.ParseUint(strings.TrimSpace(countStr), 10, 32)
	if err != nil {
		return Range{}, fmt.Errorf("bad count %q", countStr)
	}
	// The kernel needs start+count to fit in 32 bits without wrapping.
	if start+count > math.MaxUint32 {
		return Range{}, fmt.Errorf("range %d+%d runs past the largest id", start, count)
	}
	return Range{Start: uint32(start), Count: uint32(count)}, nil
}

// parseGetsubids parses the output of `getsubids NAME` or `getsubids -g NAME`:
// lines like "0: alice 100000 65536" (index, owner, start, count). Unlike the
// files, the output is all about one user, so any malformed line is an error;
// Detect then falls back to the files.
func parseGetsubids(out []byte) ([]Range, error) {
	var ranges []Range
	sc := bufio.NewScanner(bytes.NewReader(out))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || !strings.HasSuffix(f[0], ":") {
			return nil, fmt.Errorf("getsubids output line %d: unexpected %q", lineNo, line)
		}
		rg, err := parseRange(f[2], f[3])
		if err != nil {
			return nil, fmt.Errorf("getsubids output line %d: %q: %w", lineNo, line, err)
		}
		if rg.Count > 0 {
			ranges = append(ranges, rg)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ranges, nil
}

// runGetsubids asks getsubids for the user's uid ranges (or gid ranges if
// group is set).
func runGetsubids(path, name string, group bool) ([]Range, error) {
	args := []string{name}
	if group {
		args = []string{"-g", name}
	}
	ctx, cancel := context.WithTimeout(context.Background(), getsubidsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = time.Second // as runMapHelper's
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("running getsubids for %q: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return parseGetsubids(stdout.Bytes())
}
