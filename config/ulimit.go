package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Ulimits are --ulimit's names and the resource each sets.
var Ulimits = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// Ulimit is a parsed --ulimit NAME=SOFT[:HARD].
type Ulimit struct {
	Name       string
	Soft, Hard uint64 // math.MaxUint64: unlimited
}

// ParseUlimit reads NAME=SOFT[:HARD], each a number, "unlimited" or -1;
// HARD defaults to SOFT.
func ParseUlimit(s string) (Ulimit, error) {
	name, vals, ok := strings.Cut(s, "=")
	if _, known := Ulimits[name]; !ok || !known {
		var names []string
		for n := range Ulimits {
			names = append(names, n)
		}
		sort.Strings(names)
		return Ulimit{}, fmt.Errorf("want NAME=SOFT[:HARD], NAME one of %s", strings.Join(names, ", "))
	}
	soft, hard, hasHard := strings.Cut(vals, ":")
	u := Ulimit{Name: name}
	var err error
	if u.Soft, err = limitValue(soft); err != nil {
		return Ulimit{}, err
	}
	u.Hard = u.Soft
	if hasHard {
		if u.Hard, err = limitValue(hard); err != nil {
			return Ulimit{}, err
		}
	}
	if u.Soft > u.Hard {
		return Ulimit{}, errors.New("the soft limit is above the hard one")
	}
	return u, nil
}

func limitValue(s string) (uint64, error) {
	if s == "unlimited" || s == "-1" {
		return math.MaxUint64, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number (or unlimited)", s)
	}
	return n, nil
}
