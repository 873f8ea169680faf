//go:build !amd64

package idle
