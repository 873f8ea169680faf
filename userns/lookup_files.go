//go:build !cgo || osusergo

package userns

// namesFromFiles says os/user finds a uid's name in /etc/passwd alone
// (pure Go), which DetectCached can then watch by its stat.
const namesFromFiles = true
