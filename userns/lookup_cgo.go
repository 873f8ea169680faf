//go:build cgo && !osusergo

package userns

// namesFromFiles is false with cgo: os/user asks NSS (LDAP, sssd) for a
// uid's name, where no stat sees a change, so DetectCached keeps no
// answer that needed the name looked up.
const namesFromFiles = false
