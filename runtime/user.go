package runtime

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// execUser is who the payload runs as.
type execUser struct {
	UID, GID uint32
	Groups   []uint32
	Home     string
}

// resolveUser turns -u/--user ("", "name", "uid", "uid:gid", "name:group")
// into ids, using the container's /etc/passwd and /etc/group as docker
// does. Ids the user namespace does not map are refused here, with the
// reason, rather than failing obscurely in setuid.
func resolveUser(spec string, groupAdd []string, uids, gids uint32) (execUser, error) {
	passwd, _ := os.Open("/etc/passwd")
	group, _ := os.Open("/etc/group")
	defer closeIf(passwd)
	defer closeIf(group)
	u, err := resolveUserFrom(spec, passwd, group)
	if err != nil {
		return u, err
	}
	if len(groupAdd) > 0 {
		if group != nil {
			group.Seek(0, io.SeekStart)
		}
		extra, err := resolveGroups(groupAdd, group)
		if err != nil {
			return u, err
		}
		for _, g := range extra {
			if g >= gids {
				return u, fmt.Errorf("--group-add: group %d is outside the user namespace, which maps group ids 0 to %d", g, gids-1)
			}
			if !slices.Contains(u.Groups, g) && g != u.GID {
				u.Groups = append(u.Groups, g)
			}
		}
	}
	if u.UID >= uids || u.GID >= gids {
		why := ""
		if uids <= 1 {
			why = " (single-id mode maps only root: give the user a range in /etc/subuid and /etc/subgid to use other ids)"
		}
		return u, fmt.Errorf("user %q (uid %d, gid %d) is outside the user namespace, which maps ids 0 to %d%s", spec, u.UID, u.GID, min(uids, gids)-1, why)
	}
	kept := u.Groups[:0]
	for _, g := range u.Groups {
		if g < gids {
			kept = append(kept, g)
		}
	}
	u.Groups = kept
	return u, nil
}

func closeIf(f *os.File) {
	if f != nil {
		f.Close()
	}
}

func resolveUserFrom(spec string, passwd, group io.Reader) (execUser, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	u := execUser{Home: "/"}
	if userPart == "" {
		userPart = "0"
	}
	users := readColonFile(passwd, 7)
	var name string
	found := false
	uid, numErr := strconv.ParseUint(userPart, 10, 32)
	for _, f := range users {
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if (numErr == nil && id == uid) || (numErr != nil && f[0] == userPart) {
			gid, _ := strconv.ParseUint(f[3], 10, 32)
			u.UID, u.GID, u.Home, name, found = uint32(id), uint32(gid), f[5], f[0], true
			break
		}
	}
	if !found {
		if numErr != nil {
			return u, fmt.Errorf("unable to find user %q: no matching entries in the container's /etc/passwd", userPart)
		}
		u.UID = uint32(uid)
		if u.UID == 0 {
			u.Home = "/root"
		}
	}
	groups := readColonFile(group, 4)
	if hasGroup {
		gid, err := strconv.ParseUint(groupPart, 10, 32)
		if err != nil {
			ok := false
			for _, f := range groups {
				if f[0] == groupPart {
					if g, err := strconv.ParseUint(f[2], 10, 32); err == nil {
						gid, ok = g, true
						break
					}
				}
			}
			if !ok {
				return u, fmt.Errorf("unable to find group %q: no matching entries in the container's /etc/group", groupPart)
			}
		}
		u.GID = uint32(gid)
		return u, nil // an explicit group means no supplementary groups, as docker
	}
	if name != "" {
		for _, f := range groups {
			for _, member := range strings.Split(f[3], ",") {
				if member == name {
					if g, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(g) != u.GID {
						u.Groups = append(u.Groups, uint32(g))
					}
				}
			}
		}
	}
	return u, nil
}

// resolveGroups turns --group-add values (group ids or names in the
// container's /etc/group) into ids.
func resolveGroups(names []string, group io.Reader) ([]uint32, error) {
	var groups [][]string
	if group != nil {
		groups = readColonFile(group, 4)
	}
	var out []uint32
	for _, n := range names {
		if g, err := strconv.ParseUint(n, 10, 32); err == nil {
			out = append(out, uint32(g))
			continue
		}
		found := false
		for _, f := range groups {
			if f[0] == n {
				if g, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					out, found = append(out, uint32(g)), true
					break
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("--group-add %s: no such group in the container's /etc/group (give a group id instead)", n)
		}
	}
	return out, nil
}

// readColonFile parses /etc/passwd-style lines with at least n fields.
func readColonFile(r io.Reader, n int) [][]string {
	if r == nil {
		return nil
	}
	var out [][]string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < n {
			continue
		}
		out = append(out, f)
	}
	return out
}
