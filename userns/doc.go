// Package userns owns the user-namespace id mapping: it reads the user's
// subordinate id ranges (/etc/subuid, /etc/subgid, or getsubids when nsswitch
// provides them), checks that newuidmap/newgidmap can be used, and chooses
// between the full "subid" map and the single-id fallback (user → root),
// always with a one-sentence reason. It also writes the maps of a child
// process with the setuid helpers.
//
// Use: Detect once (DetectCached where a start asks: the answer kept in a
// file of the runtime directory while nothing it was read from changes),
// then start the container process in a new user namespace. In subid
// mode, keep the child blocked and call Mapping.Apply with its pid (an
// unprivileged process may not write such maps itself). In single mode,
// hand Mapping.SysProcIDMaps to syscall.SysProcAttr and let the Go
// runtime write the maps. Mapping.String identifies the map, so stored
// files owned by container ids can be recognised as belonging to another map.
package userns
